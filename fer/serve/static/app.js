// The page of python -m fer.serve: a photo or webcam frames go to POST /api/predict, and
// every face in the answer is drawn as a box over the picture with its label, and as a
// card of probability bars beside it.  Boxes are placed in percentages of the picture,
// so they stay on the faces whatever size the picture is shown at.
"use strict";

const $ = (id) => document.getElementById(id);
let labels = [];

// ------------------------------------------------------------------ the API
async function predict(blob, name, { saliency = null, detector = "photo" } = {}) {
  const form = new FormData();
  form.append("image", blob, name);
  if (saliency) form.append("saliency", saliency);
  form.append("detector", detector);
  const response = await fetch("/api/predict", { method: "POST", body: form });
  let answer;
  try {
    answer = await response.json();
  } catch {
    throw new Error(`the server answered ${response.status} without JSON`);
  }
  if (!response.ok) throw new Error(answer.error || `the server answered ${response.status}`);
  return answer;
}

function showMessage(text, isError = false) {
  $("message").textContent = text;
  $("message").classList.toggle("error", isError);
}

// ------------------------------------------------------------------ drawing
const percent = (p) => `${(100 * p).toFixed(0)}%`;

function place(element, [x, y, w, h], image, mirrored) {
  const left = mirrored ? image.width - x - w : x;
  Object.assign(element.style, {
    left: `${(100 * left) / image.width}%`, top: `${(100 * y) / image.height}%`,
    width: `${(100 * w) / image.width}%`, height: `${(100 * h) / image.height}%`,
  });
}

// Boxes and labels over the picture; the saliency overlay, when the answer has one,
// covers the square of the picture that the model saw as its 48x48 face.
function drawBoxes(layer, answer, mirrored = false) {
  layer.replaceChildren();
  answer.faces.forEach((face, i) => {
    if (face.saliency) {
      const heat = document.createElement("img");
      heat.className = "heat";
      heat.src = face.saliency.overlay;
      heat.alt = `saliency of face ${i + 1}`;
      place(heat, face.saliency.square, answer.image, mirrored);
      layer.append(heat);
    }
    const box = document.createElement("div");
    box.className = "face-box";
    box.dataset.label = face.label;
    place(box, face.box, answer.image, mirrored);
    const tag = document.createElement("span");
    tag.className = "face-label";
    tag.textContent = `${i + 1} ${face.label} ${percent(face.probabilities[face.label])}`;
    box.append(tag);
    layer.append(box);
  });
}

// One card per face: its number and label, the 48x48 face the model saw with its
// saliency map when there is one, and a bar for each emotion, the winner highlighted.
function drawCards(container, answer) {
  container.replaceChildren();
  answer.faces.forEach((face, i) => {
    const card = document.createElement("article");
    card.className = "face-card";
    card.dataset.label = face.label;
    const title = document.createElement("h2");
    title.textContent = `Face ${i + 1}: ${face.label}`;
    card.append(title);
    if (face.saliency) {
      const view = document.createElement("div");
      view.className = "model-view";
      view.title = `what the model saw, and where its ${face.saliency.method} saliency is`;
      for (const [src, kind] of [[face.saliency.face, "face"], [face.saliency.overlay, "heat"]]) {
        const img = document.createElement("img");
        img.src = src;
        img.className = kind;
        img.alt = kind === "face" ? "the face as the model saw it" : "its saliency map";
        view.append(img);
      }
      card.append(view);
    }
    for (const label of labels) {
      const p = face.probabilities[label];
      const row = document.createElement("div");
      row.className = "bar-row" + (label === face.label ? " top" : "");
      row.innerHTML = `<span class="name"></span><span class="bar"><span></span></span><span class="value"></span>`;
      row.querySelector(".name").textContent = label;
      row.querySelector(".bar span").style.width = percent(p);
      row.querySelector(".value").textContent = percent(p);
      card.append(row);
    }
    container.append(card);
  });
}

// ------------------------------------------------------------------ photo mode
let photo = null;   // the chosen file, sent again when the saliency switch changes
let latest = 0;     // the number of the latest request: an older answer arriving late is dropped

async function analysePhoto() {
  if (!photo) return;
  const ticket = ++latest;
  const saliency = $("saliency").checked ? $("saliency-method").value : null;
  showMessage(saliency ? `finding faces and their ${saliency} saliency...` : "finding faces...");
  try {
    const answer = await predict(photo, photo.name || "photo", { saliency });
    if (ticket !== latest) return;
    drawBoxes($("photo-boxes"), answer);
    drawCards($("photo-faces"), answer);
    const n = answer.faces.length;
    showMessage(n === 0
      ? "No face found in this photo. Faces turned far from the camera, or very small ones, are missed."
      : `${n} face${n > 1 ? "s" : ""} in ${answer.image.width}x${answer.image.height} pixels, ` +
        `${answer.timing_ms.total.toFixed(0)} ms`);
  } catch (error) {
    if (ticket !== latest) return;
    $("photo-boxes").replaceChildren();
    $("photo-faces").replaceChildren();
    showMessage(error.message, true);
  }
}

function choosePhoto(file) {
  if (!file) return;
  photo = file;
  const img = $("photo");
  if (img.src) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(file);
  $("photo-stage").hidden = false;
  $("photo-boxes").replaceChildren();
  analysePhoto();
}

// ------------------------------------------------------------------ webcam mode
// Frames are shrunk to FRAME_WIDTH pixels wide and sent as JPEG, one request at a time:
// the next frame is taken when the answer to the last one is in, so the page never
// queues up stale frames, and the frame rate shown is the rate of answered frames.
const FRAME_WIDTH = 480;
const RATE_WINDOW_MS = 2000;
const CAMERA_ON = "The camera is on; frames go to this computer's server only.";
let stream = null;
let answered = [];   // times of the answers in the last RATE_WINDOW_MS

async function startCamera() {
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (error) {
    showMessage(`The camera could not be opened (${error.name}): ${error.message}`, true);
    return;
  }
  $("video").srcObject = stream;
  await $("video").play();
  $("camera-start").disabled = true;
  $("camera-stop").disabled = false;
  showMessage(CAMERA_ON);
  answered = [];
  streamFrames();
}

function stopCamera() {
  if (stream) stream.getTracks().forEach((track) => track.stop());
  stream = null;
  $("video").srcObject = null;
  $("webcam-boxes").replaceChildren();
  $("camera-start").disabled = false;
  $("camera-stop").disabled = true;
  $("fps").textContent = "\u2013";
}

function grabFrame(video) {
  const scale = Math.min(1, FRAME_WIDTH / video.videoWidth);
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(video.videoWidth * scale);
  canvas.height = Math.round(video.videoHeight * scale);
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.8));
}

async function streamFrames() {
  const video = $("video");
  while (stream) {
    if (!video.videoWidth) {   // no frame yet
      await new Promise((resolve) => setTimeout(resolve, 50));
      continue;
    }
    const sent = performance.now();
    try {
      // the live detector: several times faster, and a webcam's faces are large
      const answer = await predict(await grabFrame(video), "frame.jpg", { detector: "live" });
      if (!stream) break;
      if ($("message").classList.contains("error")) showMessage(CAMERA_ON);   // the server is back
      drawBoxes($("webcam-boxes"), answer, true);
      drawCards($("webcam-faces"), answer);
      const now = performance.now();
      answered = answered.filter((t) => now - t < RATE_WINDOW_MS).concat(now);
      const span = (now - answered[0]) / 1000;
      if (answered.length > 1) $("fps").textContent = ((answered.length - 1) / span).toFixed(1);
      $("latency").textContent = `${(now - sent).toFixed(0)} ms a frame, ${answer.faces.length} face(s)`;
    } catch (error) {
      showMessage(error.message, true);
      await new Promise((resolve) => setTimeout(resolve, 1000));   // do not hammer a failing server
    }
  }
}

// ------------------------------------------------------------------ wiring
function switchMode(webcam) {
  $("photo-mode").hidden = webcam;
  $("webcam-mode").hidden = !webcam;
  $("mode-photo").setAttribute("aria-pressed", String(!webcam));
  $("mode-webcam").setAttribute("aria-pressed", String(webcam));
  if (!webcam) stopCamera();
  showMessage("");
}

async function init() {
  const info = await (await fetch("/api/info")).json();
  labels = info.labels;
  $("models").textContent = `model: ${info.models.join(" + ")}` + (info.tta !== "none" ? `, tta ${info.tta}` : "");
  $("limits").textContent = `up to ${(info.limits.max_upload_bytes / 2 ** 20).toFixed(0)} MiB and ` +
    `${(info.limits.max_pixels / 1e6).toFixed(0)} megapixels; JPEG, PNG, WebP, GIF, BMP, TIFF`;
  for (const method of info.saliency_methods) $("saliency-method").add(new Option(method, method));
  // SmoothGrad: the vanilla gradient averaged over noisy copies, the most readable map (about a second)
  if (info.saliency_methods.includes("smoothgrad")) $("saliency-method").value = "smoothgrad";

  $("file").addEventListener("change", (event) => choosePhoto(event.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    choosePhoto(event.dataTransfer.files[0]);
  });
  $("saliency").addEventListener("change", analysePhoto);
  $("saliency-method").addEventListener("change", () => { if ($("saliency").checked) analysePhoto(); });
  $("mode-photo").addEventListener("click", () => switchMode(false));
  $("mode-webcam").addEventListener("click", () => switchMode(true));
  $("camera-start").addEventListener("click", startCamera);
  $("camera-stop").addEventListener("click", stopCamera);
  document.body.dataset.ready = "true";
}

init().catch((error) => showMessage(`The page could not reach its server: ${error.message}`, true));

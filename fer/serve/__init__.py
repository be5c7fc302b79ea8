"""``python -m fer.serve RUN``: a local web page that finds the faces in a photo or a webcam
stream and shows each one's emotion, and the JSON API the page uses.

In reading order:

- :mod:`fer.serve.uploads`: an uploaded file to an image array, or a refusal that says
  why (empty, not an image, too many bytes or pixels, a decompression bomb);
- :mod:`fer.serve.predictor`: the models behind a lock (one request at a time), faces
  found and classified, saliency maps as see-through PNG overlays;
- :mod:`fer.serve.app`: the Flask application, its routes and its JSON errors;
- ``fer/serve/static/``: the page itself, plain HTML, CSS and JavaScript (no build step,
  nothing loaded from the internet);
- :mod:`fer.serve.__main__`: the command line, served by waitress.

Flask and waitress are imported only by the modules that need them: ``import fer``
and ``python -m fer.serve --help`` stay quick.
"""

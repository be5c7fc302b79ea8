"""Faces in photos and videos:

- :mod:`fer.photos.faces`: reading a photo, finding its faces, cutting each out as FER2013 did;
- :mod:`fer.photos.video`: sampling a video's frames, writing an annotated video, and each
  emotion's probability over time;
- :mod:`fer.photos.annotate`: drawing the boxes, labels, probability bars and saliency maps;
- :mod:`fer.photos.files`: the loops of ``python -m fer.predict`` over photos and videos.

Nothing is imported here; OpenCV is imported on first use.
"""

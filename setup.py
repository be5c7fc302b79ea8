from setuptools import find_packages, setup

setup(
    name="minigrad-fer",
    version="0.1.0",
    description="minigrad, a from-scratch NumPy/numba deep-learning engine, and fer, "
                "a facial-expression-recognition study built on it",
    packages=find_packages(include=["minigrad", "minigrad.*", "fer", "fer.*"]),
    package_data={"fer.serve": ["static/*"],    # the web page of python -m fer.serve
                  # the bundled model (weights, manifest with their SHA-256, model card), so that a plain
                  # `pip install .` labels faces without training or downloading anything
                  "fer.bundled": ["model.npz", "model.json", "MODEL_CARD.md"]},
    python_requires=">=3.10",
    install_requires=["numpy>=1.24", "numba>=0.58", "pandas>=1.5", "matplotlib>=3.6", "pillow>=9", "threadpoolctl>=3", "tqdm>=4.60",
                      # python -m fer.serve: Flask for the web page and its API, waitress (pure Python) to
                      # serve it; both small, and required so that the README's install makes the command work
                      "flask>=3", "waitress>=3",
                      # fer.photos.faces: OpenCV's Haar cascades find the faces in photos and videos (the detector
                      # FER2013 was cut out with) and cv2 reads and writes video files.  Below 5: the cascade
                      # files ship under cv2.data.haarcascades in 4.x, and OpenCV 5.0 no longer ships them.
                      "opencv-python-headless>=4.5,<5"],
    extras_require={"test": ["pytest>=7", "selenium>=4.11", "onnx>=1.14", "onnxruntime>=1.16"],
                    # python -m fer.export --format onnx writes the graph with the onnx package's helpers
                    "onnx": ["onnx>=1.14"],
                    # data-parallel training under mpiexec (docs/MPI.md): mpi4py and an MPI from wheels
                    "mpi": ["mpi4py>=4", "mpich>=4"]},
)

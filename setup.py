from setuptools import find_packages, setup

setup(
    name="minigrad-fer",
    version="0.1.0",
    description="minigrad, a from-scratch NumPy/numba deep-learning engine, and fer, "
                "a facial-expression-recognition study built on it",
    packages=find_packages(include=["minigrad", "minigrad.*", "fer", "fer.*"]),
    python_requires=">=3.10",
    install_requires=["numpy>=1.24", "numba>=0.58", "pandas>=1.5", "matplotlib>=3.6", "pillow>=9", "threadpoolctl>=3", "tqdm>=4.60"],
    extras_require={"test": ["pytest>=7"],
                    # data-parallel training under mpiexec (docs/MPI.md): mpi4py and an MPI from wheels
                    "mpi": ["mpi4py>=4", "mpich>=4"]},
)

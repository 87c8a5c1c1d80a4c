# System dependencies (Debian packages; scripts/install-deps.sh installs them).
include(GNUInstallDirs)
find_package(Eigen3 3.3 REQUIRED NO_MODULE)   # libeigen3-dev
find_package(fmt REQUIRED)                    # libfmt-dev
find_package(OpenMP REQUIRED COMPONENTS CXX)  # the CPU thread pool
find_package(ZLIB REQUIRED)                   # zlib1g-dev: gzip'd datasets

# AUTO options resolve to ON when the dependency is found.
include(CheckLanguage)
if(TESSERA_CUDA STREQUAL "AUTO")
  # The toolkit's usual home, so AUTO finds nvcc without PATH or CUDACXX being set.
  if(NOT DEFINED ENV{CUDACXX} AND NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(TESSERA_CUDA_ENABLED ON)
  else()
    set(TESSERA_CUDA_ENABLED OFF)
  endif()
elseif(TESSERA_CUDA)
  set(TESSERA_CUDA_ENABLED ON)
else()
  set(TESSERA_CUDA_ENABLED OFF)
endif()

if(TESSERA_CUDA_ENABLED)
  # sm_80 (A100) and sm_90 (H100/H200) machine code plus sm_90 PTX for later GPUs.
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 80-real 90)
  endif()
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)  # cudart, cuBLAS, cuBLASLt
  # cuDNN is optional: convolution falls back to our im2col kernels + cuBLAS without it.
  find_path(TESSERA_CUDNN_INCLUDE_DIR cudnn.h HINTS ${CUDAToolkit_INCLUDE_DIRS} ENV CUDNN_ROOT PATH_SUFFIXES include)
  find_library(TESSERA_CUDNN_LIBRARY cudnn HINTS ${CUDAToolkit_LIBRARY_DIR} ENV CUDNN_ROOT PATH_SUFFIXES lib lib64)
  if(TESSERA_CUDNN_INCLUDE_DIR AND TESSERA_CUDNN_LIBRARY)
    set(TESSERA_CUDNN_ENABLED ON)
  else()
    set(TESSERA_CUDNN_ENABLED OFF)
  endif()
  message(STATUS "Tessera: CUDA architectures ${CMAKE_CUDA_ARCHITECTURES}, cuDNN ${TESSERA_CUDNN_ENABLED}")
endif()

if(NOT TESSERA_MPI STREQUAL "OFF")
  if(TESSERA_MPI STREQUAL "AUTO")
    find_package(MPI COMPONENTS CXX QUIET)
  else()
    find_package(MPI COMPONENTS CXX REQUIRED)
  endif()
endif()
if(MPI_CXX_FOUND AND NOT TESSERA_MPI STREQUAL "OFF")
  set(TESSERA_MPI_ENABLED ON)
else()
  set(TESSERA_MPI_ENABLED OFF)
endif()
message(STATUS "Tessera: CUDA backend ${TESSERA_CUDA_ENABLED}, MPI runtime ${TESSERA_MPI_ENABLED}")

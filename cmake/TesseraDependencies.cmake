# System dependencies (Debian packages; scripts/install-deps.sh installs them).
include(GNUInstallDirs)
find_package(Eigen3 3.3 REQUIRED NO_MODULE)   # libeigen3-dev
find_package(fmt REQUIRED)                    # libfmt-dev
find_package(OpenMP REQUIRED COMPONENTS CXX)  # the CPU thread pool
find_package(ZLIB REQUIRED)                   # zlib1g-dev: gzip'd datasets

# AUTO options resolve to ON when the dependency is found.
include(CheckLanguage)
if(TESSERA_CUDA STREQUAL "AUTO")
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

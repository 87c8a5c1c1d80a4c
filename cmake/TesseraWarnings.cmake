# One warning policy for the library, tests, examples and benchmarks.
function(tessera_set_warnings target)
  # -Wno-maybe-uninitialized: GCC 12 reports false positives inside its own AVX-512 intrinsic
  # headers when Eigen's GEMM kernels are inlined with -march=native.
  # C++ only: nvcc has its own flags for device code (CMakeLists.txt).
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow=local
                         -Wno-unused-parameter -Wno-maybe-uninitialized>)
  if(TESSERA_WERROR)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
  endif()
endfunction()

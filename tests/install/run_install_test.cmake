# Run by ctest (tests/install/CMakeLists.txt) with cmake -P. Steps, each failing the test
# with its output on error:
#   1. cmake --install TESSERA_BUILD_DIR --prefix PREFIX
#   2. configure CONSUMER_SOURCE against PREFIX only (no package registry, no build tree)
#   3. build it
#   4. run the consumer app, which checks a small computation itself
foreach(var TESSERA_BUILD_DIR PREFIX CONSUMER_SOURCE CONSUMER_BUILD GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_install_test.cmake: -D${var}=... is required")
  endif()
endforeach()

function(run_step name)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install test: step '${name}' failed (${rc})\ncommand: ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "install test: ${name}: ok")
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${PREFIX}" "${CONSUMER_BUILD}")

set(config_args)
if(BUILD_TYPE)
  set(config_args --config "${BUILD_TYPE}")
endif()
run_step("cmake --install" "${CMAKE_COMMAND}" --install "${TESSERA_BUILD_DIR}" --prefix "${PREFIX}" ${config_args})

set(configure_args
  -S "${CONSUMER_SOURCE}" -B "${CONSUMER_BUILD}" -G "${GENERATOR}"
  "-DCMAKE_PREFIX_PATH=${PREFIX}"
  "-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF"
  "-DEXPECTED_PREFIX=${PREFIX}"
  "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
  "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}")
if(BUILD_TYPE)
  list(APPEND configure_args "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}")
endif()
if(COMPILER_LAUNCHER)
  list(APPEND configure_args "-DCMAKE_CXX_COMPILER_LAUNCHER=${COMPILER_LAUNCHER}")
endif()
run_step("configure consumer" "${CMAKE_COMMAND}" ${configure_args})
run_step("build consumer" "${CMAKE_COMMAND}" --build "${CONSUMER_BUILD}" ${config_args})

set(app "${CONSUMER_BUILD}/tessera_consumer")
if(NOT EXISTS "${app}" AND BUILD_TYPE)
  set(app "${CONSUMER_BUILD}/${BUILD_TYPE}/tessera_consumer")  # multi-config generators
endif()
run_step("run consumer" "${app}")
message(STATUS "${step_output}")

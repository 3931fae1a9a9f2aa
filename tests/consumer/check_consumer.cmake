# ctest's consumer_package: installs this build into BUILD/consumer/install, configures and builds
# tests/consumer against it with find_package(proact), and runs the result.
#   cmake -DBUILD=... -DSOURCE=... -DCXX=... -DCXX_FLAGS=... -DLINK_FLAGS=... -P check_consumer.cmake
set(work ${BUILD}/consumer)
file(REMOVE_RECURSE ${work})

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "consumer: ${what} failed (${status}):\n${output}")
  endif()
  set(step_output "${output}" PARENT_SCOPE)
endfunction()

run_step("install" ${CMAKE_COMMAND} --install ${BUILD} --prefix ${work}/install)
run_step("configure" ${CMAKE_COMMAND} -S ${SOURCE}/tests/consumer -B ${work}/build
         -DCMAKE_PREFIX_PATH=${work}/install -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=${CXX}
         "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${LINK_FLAGS}")
run_step("build" ${CMAKE_COMMAND} --build ${work}/build)
run_step("run" ${work}/build/consumer)
message(STATUS "consumer printed: ${step_output}")

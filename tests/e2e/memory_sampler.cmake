# The memory sampler's end-to-end test (root, BPF): register it with
#   include(${CMAKE_CURRENT_SOURCE_DIR}/memory_sampler.cmake)
# in tests/e2e/CMakeLists.txt. Until then it can be built in a private build dir with
#   cmake -DCMAKE_PROJECT_ccprof_INCLUDE=/path/to/tests/e2e/memory_sampler.cmake ...
# (the definition is deferred to the end of the top-level CMakeLists then).
include(GoogleTest)
function(ccprof_memory_sampler_e2e)
  if(TARGET memory_sampler_e2e_test)
    return()
  endif()
  add_executable(memory_sampler_e2e_test ${PROJECT_SOURCE_DIR}/tests/e2e/memory_sampler_e2e_test.cc)
  target_link_libraries(memory_sampler_e2e_test PRIVATE agent profiler GTest::gtest GTest::gtest_main)
  target_compile_definitions(memory_sampler_e2e_test PRIVATE CCPROF_BUILD_DIR="${CMAKE_BINARY_DIR}"
                             CCPROF_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  add_dependencies(memory_sampler_e2e_test fixture_false_share)
  gtest_discover_tests(memory_sampler_e2e_test DISCOVERY_TIMEOUT 60 PROPERTIES LABELS e2e)
endfunction()
if(TARGET agent)
  ccprof_memory_sampler_e2e()
else()
  cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL ccprof_memory_sampler_e2e)
endif()

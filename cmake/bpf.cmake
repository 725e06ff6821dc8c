# ccprof_bpf_skeleton(NAME) turns bpf/NAME.bpf.c into NAME.bpf.o and NAME.skel.h and
# defines the INTERFACE target bpf_NAME that exposes the skeleton's include dir.
find_program(CLANG_BPF NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)
# Extra -D flags for the BPF objects: only bench/bpf_ablate.py sets them, in a build tree
# of its own (the CCPROF_ABLATE_* switches in bpf/sched.bpf.c).
set(CCPROF_BPF_DEFINES "" CACHE STRING "bench/bpf_ablate.py only: -D flags for the BPF objects")
if(CCPROF_BPF_DEFINES)
  message(WARNING "CCPROF_BPF_DEFINES=${CCPROF_BPF_DEFINES}: an ablated profiler for bench/bpf_ablate.py, "
                  "which refuses to run without CCPROF_BENCH_ABLATED=1")
endif()

function(ccprof_bpf_skeleton name)
  set(src ${CMAKE_CURRENT_SOURCE_DIR}/${name}.bpf.c)
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/skel)
  set(obj ${out_dir}/${name}.bpf.o)
  set(skel ${out_dir}/${name}.skel.h)
  # The headers each object includes come from clang's depfile: a header added after the
  # build tree was configured is tracked as well (a glob of bpf/*.h was not, until the
  # next configure).
  add_custom_command(
    OUTPUT ${obj} ${skel}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND ${CLANG_BPF} -g -O2 -target bpf -D__TARGET_ARCH_x86 ${CCPROF_BPF_DEFINES} -Wall -Werror
            -I${PROJECT_SOURCE_DIR}/third_party/vmlinux/x86 -I${CMAKE_CURRENT_SOURCE_DIR}
            -MD -MF ${obj}.d -c ${src} -o ${obj}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name}_bpf > ${skel}.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${skel}.tmp ${skel}
    DEPENDS ${src}
    DEPFILE ${obj}.d
    COMMENT "BPF ${name}.bpf.c -> ${name}.skel.h"
    VERBATIM)
  add_custom_target(bpf_${name}_gen DEPENDS ${skel})
  add_library(bpf_${name} INTERFACE)
  add_dependencies(bpf_${name} bpf_${name}_gen)
  # Only the skeleton dir: C++ includes "bpf/NAME.h" (bpf/sched.h must not shadow <sched.h>).
  target_include_directories(bpf_${name} INTERFACE ${out_dir})
endfunction()

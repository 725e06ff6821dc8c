# ccprof_embed_text(target file namespace name): compiles `file` (relative to the current
# source dir) into `target` as `std::string_view namespace::name()`, declared in
# "<file's base name>_embedded.h"; regenerated when the file changes.
set(CCPROF_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/embed_text_script.cmake)
function(ccprof_embed_text target file ns name)
  get_filename_component(base ${file} NAME_WE)
  set(in ${CMAKE_CURRENT_SOURCE_DIR}/${file})
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${base}_embedded.cc)
  set(out_h ${CMAKE_CURRENT_BINARY_DIR}/${base}_embedded.h)
  add_custom_command(
    OUTPUT ${out} ${out_h}
    COMMAND ${CMAKE_COMMAND} -DIN=${in} -DOUT=${out} -DOUT_H=${out_h} -DNS=${ns} -DNAME=${name}
            -P ${CCPROF_EMBED_SCRIPT}
    DEPENDS ${in} ${CCPROF_EMBED_SCRIPT}
    COMMENT "Embedding ${file}"
    VERBATIM)
  target_sources(${target} PRIVATE ${out} ${out_h})
  target_include_directories(${target} PRIVATE ${CMAKE_CURRENT_BINARY_DIR})
endfunction()

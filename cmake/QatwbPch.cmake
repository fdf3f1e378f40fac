# qatwb_use_engine_pch(target): reuse qatwb_engine's precompiled torch header in another target,
# so each extra TU that includes torch compiles in seconds. The PCH is built with -fPIC (static
# library); executables would get -fPIE, which GCC rejects for a PCH, so they use -fPIC too.
function(qatwb_use_engine_pch target)
  target_precompile_headers(${target} REUSE_FROM qatwb_engine)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE")
    set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
    target_compile_options(${target} PRIVATE -fPIC)
  endif()
  # AUTOMOC's mocs_compilation.cpp is empty where each source includes its own .moc (every test
  # does); loading the 600 MB header for it cost 10 s a target.
  get_target_property(automoc ${target} AUTOMOC)
  if(automoc)
    set_source_files_properties(${CMAKE_CURRENT_BINARY_DIR}/${target}_autogen/mocs_compilation.cpp
      PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
  endif()
endfunction()

# qatwb_unity(target batch): with QATWB_UNITY_BUILD, compile the target's sources `batch` at a
# time. Each torch unit pays about 9 s just to load the precompiled header, and each other unit
# re-parses yaml-cpp/json/Qt headers; batching pays that once per batch.
function(qatwb_unity target batch)
  if(QATWB_UNITY_BUILD)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE ${batch})
  endif()
endfunction()

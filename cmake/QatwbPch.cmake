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
endfunction()

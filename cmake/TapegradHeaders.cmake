# Gives the build tree the include spelling of the install tree:
#   build/include/tapegrad/tapegrad.hpp        (generated umbrella + version)
#   build/include/tapegrad/autograd -> <src>/autograd   (symlink, edits show up at once)
set(TAPEGRAD_GENERATED_INCLUDE_DIR "${CMAKE_CURRENT_BINARY_DIR}/include")
set(_tg_inc "${TAPEGRAD_GENERATED_INCLUDE_DIR}/tapegrad")
file(MAKE_DIRECTORY "${_tg_inc}")
set(TAPEGRAD_HEADER_DIRS autograd layers optim io)  # the library's folders
foreach(dir IN LISTS TAPEGRAD_HEADER_DIRS)
  if(NOT EXISTS "${_tg_inc}/${dir}")
    file(CREATE_LINK "${CMAKE_CURRENT_SOURCE_DIR}/${dir}" "${_tg_inc}/${dir}" SYMBOLIC)
  endif()
endforeach()
configure_file(cmake/version.hpp.in "${_tg_inc}/version.hpp" @ONLY)
configure_file(cmake/tapegrad.hpp.in "${_tg_inc}/tapegrad.hpp" @ONLY)

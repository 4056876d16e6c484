# The dependency rule of docs/architecture.md, checked on the sources: a component's files
# (src/<component>/ and include/labloop/<component>/) include headers only of their own component
# and of the components it links. Used at configure time by labloop_component() (CMakeLists.txt),
# and by a test on a deliberately wrong tree (tests/CMakeLists.txt), in script mode:
#   cmake -DSOURCE_DIR=<tree> -DCOMPONENT=<name> -DALLOWED="<name>;<dependencies>" -P check_component_includes.cmake
if(CMAKE_SCRIPT_MODE_FILE AND NOT CMAKE_PARENT_LIST_FILE)
  cmake_minimum_required(VERSION 3.25)
endif()

function(labloop_check_component_includes source_dir component allowed)
  file(GLOB_RECURSE files LIST_DIRECTORIES false
       "${source_dir}/src/${component}/*.cpp" "${source_dir}/src/${component}/*.hpp" "${source_dir}/include/labloop/${component}/*.hpp")
  set(violations "")
  foreach(file IN LISTS files)
    file(STRINGS "${file}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]labloop/[a-z_]+/")
    foreach(line IN LISTS lines)
      string(REGEX MATCH "labloop/([a-z_]+)/" _ "${line}")
      if(NOT CMAKE_MATCH_1 IN_LIST allowed)
        file(RELATIVE_PATH where "${source_dir}" "${file}")
        string(STRIP "${line}" line)
        string(APPEND violations "\n  ${where}: ${line}")
      endif()
    endforeach()
  endforeach()
  if(violations)
    list(REMOVE_ITEM allowed ${component})
    list(JOIN allowed ", " allowed_text)
    if(allowed_text STREQUAL "")
      set(allowed_text "none")
    endif()
    message(FATAL_ERROR "component '${component}' includes headers of components it does not link "
                        "(it links: ${allowed_text}; see docs/architecture.md):${violations}")
  endif()
endfunction()

if(CMAKE_SCRIPT_MODE_FILE AND NOT CMAKE_PARENT_LIST_FILE)
  labloop_check_component_includes("${SOURCE_DIR}" "${COMPONENT}" "${ALLOWED}")
endif()

# Install rules, the CMake package (find_package(labloop)) and the Debian package (cpack -G DEB).
# Included at the end of the top-level CMakeLists.txt, once every target exists.
#
#   cmake --install build --prefix /opt/labloop   # bin/labloop, bin/labloop-sim, bin/labloop-driver-*, headers, libs,
#                                                 # lib/cmake/labloop, share/labloop/examples,
#                                                 # share/labloop/data (the datasets)
#   cd build && cpack -G DEB                      # labloop_<version>_<arch>.deb (see scripts/check-deb.sh)
#
# The component libraries are static (PIC, so they also link into shared objects): a driver or an
# embedding program carries the labloop code it uses and needs no labloop runtime library. Their
# private dependencies (fmt, NLopt, libsodium) still have to be linked by the user, so they appear in
# the exported link interface as $<LINK_ONLY:…> and labloopConfig.cmake finds them, per component:
# labloop::driver needs only nlohmann_json, cppzmq (libzmq), Threads and fmt.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(LABLOOP_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/labloop" CACHE STRING
    "Where labloopConfig.cmake is installed, relative to the prefix")

set(labloop_installed_libraries labloop_core labloop_model labloop_wire labloop_journal labloop_campaign)
foreach(target IN LISTS labloop_installed_libraries)
  get_target_property(type ${target} TYPE)
  get_target_property(pic ${target} POSITION_INDEPENDENT_CODE)
  if(type STREQUAL "STATIC_LIBRARY" AND NOT pic)
    message(FATAL_ERROR "${target} is installed as a static library and must be built with POSITION_INDEPENDENT_CODE")
  endif()
endforeach()

install(TARGETS ${labloop_installed_libraries} labloop_driver labloop
  EXPORT labloopTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/labloop ${PROJECT_BINARY_DIR}/generated/labloop
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.hpp")
# The example campaigns and driver (README.md's quick-start: labloop run <datadir>/labloop/examples/quickstart.json).
install(FILES ${PROJECT_SOURCE_DIR}/examples/quickstart.json ${PROJECT_SOURCE_DIR}/examples/bayesian.json
              ${PROJECT_SOURCE_DIR}/examples/parallel.json ${PROJECT_SOURCE_DIR}/examples/minimal_driver.cpp
  DESTINATION ${CMAKE_INSTALL_DATADIR}/labloop/examples)
# The datasets behind labloop-sim's dataset instruments and `labloop bench --suite real` (about 7 MB,
# with their licences and citations): the installed programs read them there (simulators/dataset.cpp).
install(DIRECTORY ${PROJECT_SOURCE_DIR}/simulators/data/ DESTINATION ${CMAKE_INSTALL_DATADIR}/labloop/data)
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(EXPORT labloopTargets NAMESPACE labloop:: DESTINATION ${LABLOOP_INSTALL_CMAKEDIR})

configure_package_config_file(cmake/labloopConfig.cmake.in ${PROJECT_BINARY_DIR}/labloopConfig.cmake
  INSTALL_DESTINATION ${LABLOOP_INSTALL_CMAKEDIR})
# 0.x: a minor release may change the API, so only the same major.minor satisfies a request.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/labloopConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/labloopConfig.cmake ${PROJECT_BINARY_DIR}/labloopConfigVersion.cmake
  DESTINATION ${LABLOOP_INSTALL_CMAKEDIR})

# The installed package, used as an out-of-tree project would: tests/out_of_tree/install_test.sh.
if(LABLOOP_BUILD_TESTS)
  set(labloop_out_of_tree_flags "")
  if(LABLOOP_SANITIZE)  # the installed static libraries need the sanitizer runtimes
    set(labloop_out_of_tree_flags "-fsanitize=address,undefined -fno-omit-frame-pointer")
  endif()
  set(labloop_install_test "install: find_package(labloop) builds the example driver and an embedding program; a campaign runs on them")
  add_test(NAME "${labloop_install_test}"
    COMMAND ${PROJECT_SOURCE_DIR}/tests/out_of_tree/install_test.sh ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR}
            ${CMAKE_COMMAND} ${CMAKE_CXX_COMPILER} "${labloop_out_of_tree_flags}")
  set_tests_properties("${labloop_install_test}" PROPERTIES LABELS integration TIMEOUT 180)
endif()

# ---- Debian package: cpack -G DEB ---------------------------------------------------------------
# One package: the programs (labloop, labloop-sim, the ready-made drivers) and the SDK (headers, static libraries, CMake
# package). Depends: the shared libraries the programs load (found by dpkg-shlibdeps). Recommends:
# what building a driver against labloop::driver needs (apt installs Recommends by default; a lab
# PC that only runs campaigns can leave them out with --no-install-recommends). Suggests: what
# labloop::labloop (Eigen, NLopt, libsodium) adds for programs that embed the whole controller.
set(CPACK_PACKAGE_NAME labloop)
set(CPACK_PACKAGE_VENDOR "The labloop authors")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "closed-loop autonomous lab controller")
set(CPACK_PACKAGE_DESCRIPTION "A planner proposes the next experiment, instruments run it over \
ZeroMQ, the result flows back and the loop repeats until the budget or the target is reached, with \
every event journaled on disk first. Includes labloop, labloop-sim (simulated instruments), \
ready-made drivers (labloop-driver-command, -files and -scpi: a program, request folders or an SCPI \
instrument as a labloop instrument), and the C++ SDK: headers, static libraries and the CMake package (find_package(labloop), labloop::driver).")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_IGNORE_FILES "/build/" "/runs/" "/\\\\.git/" "/\\\\.cache/")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # labloop_0.2.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "labloop maintainers <maintainers@users.noreply.h-seed-3373fec0.example>"
    CACHE STRING "Maintainer field of the .deb")
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # Depends: the libraries labloop and labloop-sim load
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "build-essential, cmake, nlohmann-json3-dev, cppzmq-dev, libzmq3-dev, libfmt-dev")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "libeigen3-dev, libnlopt-dev, libsodium-dev, python3-zmq")
include(CPack)

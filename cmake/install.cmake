# Install rules (NTM_INSTALL, included by the top-level CMakeLists.txt). Under the prefix:
#
#   lib/libntm.so.0.1.0, libntm.so.0.1 (the SONAME)        component Runtime
#   lib/libntm.so (link-time name), include/ntm/*.h*       component Development
#   lib/cmake/ntm/ntm{Config,ConfigVersion,Targets*}.cmake component Development
#   lib/pkgconfig/ntm.pc                                   component Development
#   bin/ntm-dc, ntm-ns, ntm-cat, ntm-ping (when built)     component Runtime
#   share/doc/ntm/examples/                                component Runtime
#
# `cmake --install build --prefix P` and `DESTDIR=D cmake --install build` both work: the CMake
# package locates itself, and ntm.pc is written at install time with the prefix in force then.
# docs/embedding.md shows the consumer's side; tests/consumer runs it.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(NTM_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/ntm)

install(TARGETS ntm EXPORT ntmTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Runtime
                NAMELINK_COMPONENT Development
        FILE_SET HEADERS DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT Development)
install(EXPORT ntmTargets NAMESPACE ntm:: DESTINATION ${NTM_CMAKE_DIR} COMPONENT Development)

# While the major version is 0 the SONAME changes with every minor version (libntm/node.cmake),
# so a request for 0.1 is met only by 0.1.x; from 1.0 on, by the same major version.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(_ntm_compat SameMinorVersion)
else()
  set(_ntm_compat SameMajorVersion)
endif()
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/ntmConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/ntmConfig.cmake
                              INSTALL_DESTINATION ${NTM_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/ntmConfigVersion.cmake
                                 COMPATIBILITY ${_ntm_compat})
install(FILES ${PROJECT_BINARY_DIR}/ntmConfig.cmake ${PROJECT_BINARY_DIR}/ntmConfigVersion.cmake
        DESTINATION ${NTM_CMAKE_DIR} COMPONENT Development)

# ntm.pc. libntm.so is linked against these (its DT_NEEDED entries); tests/consumer checks the
# list against the built library. lwIP is among them only when it is the packaged liblwip.
set(NTM_PC_LIBS_PRIVATE "-lsodium -lmnl -lspdlog -lfmt -lstdc++ -lm")
if(NOT NTM_LWIP_FROM_SOURCE)
  string(PREPEND NTM_PC_LIBS_PRIVATE "-llwip ")
endif()
foreach(_d LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_d}}")
    set(NTM_PC_${_d} "${CMAKE_INSTALL_${_d}}")
  else()
    set(NTM_PC_${_d} "\${prefix}/${CMAKE_INSTALL_${_d}}")
  endif()
endforeach()
set(NTM_PC_PREFIX "@NTM_PC_PREFIX@")  # kept for the second pass, at install time
configure_file(${CMAKE_CURRENT_LIST_DIR}/ntm.pc.in ${PROJECT_BINARY_DIR}/ntm.pc.in @ONLY)
# The prefix is the one in force at install time (cmake --install --prefix may change it).
install(CODE "set(NTM_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
configure_file(\"${PROJECT_BINARY_DIR}/ntm.pc.in\" \"${PROJECT_BINARY_DIR}/ntm.pc\" @ONLY)"
        COMPONENT Development)
install(FILES ${PROJECT_BINARY_DIR}/ntm.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
        COMPONENT Development)

# Programs. They find libntm next to them ($ORIGIN/../lib) unless the library
# directory is one the dynamic linker searches anyway (packagers: -DCMAKE_SKIP_INSTALL_RPATH=ON).
file(RELATIVE_PATH _ntm_bin_to_lib ${CMAKE_INSTALL_FULL_BINDIR} ${CMAKE_INSTALL_FULL_LIBDIR})
list(FIND CMAKE_CXX_IMPLICIT_LINK_DIRECTORIES ${CMAKE_INSTALL_FULL_LIBDIR} _ntm_system_libdir)
foreach(prog ntm-dc ntm-ns ntm-cat ntm-ping)
  if(TARGET ${prog})
    install(TARGETS ${prog} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT Runtime)
    if(_ntm_system_libdir EQUAL -1)
      set_target_properties(${prog} PROPERTIES INSTALL_RPATH "\$ORIGIN/${_ntm_bin_to_lib}")
    endif()
  endif()
endforeach()
install(FILES ${PROJECT_SOURCE_DIR}/apps/examples/hello_node.c
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples COMPONENT Runtime)
if(TARGET ntm-dc)
  install(FILES ${PROJECT_SOURCE_DIR}/servers/dc/ntm-dc.conf.example
          DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples COMPONENT Runtime)
endif()
if(TARGET ntm-ns)
  install(FILES ${PROJECT_SOURCE_DIR}/servers/ns/ntm-ns.conf.example
          DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples COMPONENT Runtime)
endif()

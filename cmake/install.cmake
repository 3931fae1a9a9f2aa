# `cmake --install BUILD --prefix DIR` puts the folder libraries in DIR/lib, the headers in
# DIR/include/proact/<folder>/ (so "core/tensor.hpp" includes as it does in the tree), the command
# line in DIR/bin and a CMake package in DIR/lib/cmake/proact, so that another project can write
#
#   find_package(proact REQUIRED)
#   target_link_libraries(app PRIVATE proact::proact)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

foreach(folder ${PROACT_FOLDERS})
  if(IS_DIRECTORY ${CMAKE_SOURCE_DIR}/${folder})  # proact/ may not exist yet
    install(DIRECTORY ${CMAKE_SOURCE_DIR}/${folder}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/proact/${folder}
            FILES_MATCHING PATTERN "*.hpp")
  endif()
endforeach()

install(TARGETS ${PROACT_LIBRARIES} proact_all EXPORT proactTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/proact)
if(TARGET proact)
  install(TARGETS proact RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

set(PROACT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/proact)
install(EXPORT proactTargets NAMESPACE proact:: DESTINATION ${PROACT_CMAKE_DIR})
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/proactConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/proactConfig.cmake INSTALL_DESTINATION ${PROACT_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/proactConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/proactConfig.cmake ${CMAKE_BINARY_DIR}/proactConfigVersion.cmake
        DESTINATION ${PROACT_CMAKE_DIR})

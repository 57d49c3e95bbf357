# Read by cpack at packaging time. The maintainer scripts and the unit name /etc/stampede,
# /var/lib/stampede and /usr/bin: a package built for another prefix would not work.
if(CPACK_GENERATOR STREQUAL "DEB" AND NOT CPACK_PACKAGING_INSTALL_PREFIX STREQUAL "/usr")
  message(FATAL_ERROR "the Debian package needs a build directory configured with "
                      "-DCMAKE_INSTALL_PREFIX=/usr (this one has '${CPACK_PACKAGING_INSTALL_PREFIX}')")
endif()

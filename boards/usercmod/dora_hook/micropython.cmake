# dora_hook: stops the firmware's own DHCP server on the Wi-Fi access point,
# so that dora's server can bind UDP port 67 (see dora_hook.c).
add_library(usermod_dora_hook INTERFACE)
target_sources(usermod_dora_hook INTERFACE ${CMAKE_CURRENT_LIST_DIR}/dora_hook.c)
target_include_directories(usermod_dora_hook INTERFACE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(usermod INTERFACE usermod_dora_hook)

// dora_hook: the one thing dora cannot do from Python on a Wi-Fi board.
//
// Both Wi-Fi ports start a DHCP server of their own on the access point, and
// it holds UDP port 67: lwIP refuses a second bind on the port unless both
// sockets set SO_REUSEADDR, which the built-in servers do not.  No Python API
// stops them, so this module does:
//
//   import dora_hook
//   dora_hook.stop_builtin_dhcp()   # True when a server was found to stop
//
// Call it after the AP is active, and again after every AP ifconfig() or
// ipconfig(): dora's board code (boards/common/dora_board.py) does.
//
// What it relies on, read in MicroPython's sources (v1.24 to v1.28.0):
// - esp32: ports/esp32/network_wlan.c creates the AP with
//   esp_netif_create_default_wifi_ap(), whose ESP-IDF interface key is
//   "WIFI_AP_DEF".  ports/esp32/network_common.c (esp_ifconfig, esp_ipconfig)
//   stops and restarts the AP's server around every address change, and
//   itself treats ESP_ERR_ESP_NETIF_DHCP_ALREADY_STOPPED as success.
// - rp2 (Pico W): lib/cyw43-driver src/cyw43_lwip.c, cyw43_cb_tcpip_init(),
//   calls dhcp_server_init(&self->dhcp_server, ...) when the AP interface comes
//   up (WLAN(AP_IF).active(True)); extmod/network_cyw43.c's ifconfig does not
//   restart it, but its config() of ssid, key, security or channel on an
//   active AP cycles the interface (cyw43_wifi_set_up down and up), which
//   starts it again on the default address: configure the AP before
//   activating it.  shared/netutils/dhcpserver.c's dhcp_server_deinit() removes
//   the UDP PCB and is safe to call twice (it checks for NULL).  lwIP calls
//   from Python code must hold the lwIP lock (MICROPY_PY_LWIP_ENTER/EXIT,
//   ports/rp2/mphalport.h).

#include "py/runtime.h"

#if defined(ESP_PLATFORM)

#include "esp_netif.h"

static mp_obj_t dora_hook_stop_builtin_dhcp(void) {
    esp_netif_t *ap = esp_netif_get_handle_from_ifkey("WIFI_AP_DEF");
    if (ap == NULL) {
        return mp_const_false;  // the AP was never brought up
    }
    esp_err_t e = esp_netif_dhcps_stop(ap);
    if (e != ESP_OK && e != ESP_ERR_ESP_NETIF_DHCP_ALREADY_STOPPED) {
        mp_raise_msg_varg(&mp_type_OSError, MP_ERROR_TEXT("esp_netif_dhcps_stop failed: 0x%x"), (unsigned int)e);
    }
    return mp_const_true;
}

#elif MICROPY_PY_NETWORK_CYW43

#include "py/mphal.h"
#include "lib/cyw43-driver/src/cyw43.h"
#include "shared/netutils/dhcpserver.h"

// The lock is not optional: without it the call races lwIP's own work.
#if !defined(MICROPY_PY_LWIP_ENTER) || !defined(MICROPY_PY_LWIP_EXIT)
#error "dora_hook: this port defines no lwIP lock (MICROPY_PY_LWIP_ENTER/EXIT in mphalport.h)"
#endif

static mp_obj_t dora_hook_stop_builtin_dhcp(void) {
    MICROPY_PY_LWIP_ENTER
    dhcp_server_deinit(&cyw43_state.dhcp_server);
    MICROPY_PY_LWIP_EXIT
    return mp_const_true;
}

#else
#error "dora_hook: only the esp32 port and rp2 with cyw43 (Pico W) have a built-in AP DHCP server to stop"
#endif

static MP_DEFINE_CONST_FUN_OBJ_0(dora_hook_stop_builtin_dhcp_obj, dora_hook_stop_builtin_dhcp);

static const mp_rom_map_elem_t dora_hook_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_dora_hook) },
    { MP_ROM_QSTR(MP_QSTR_stop_builtin_dhcp), MP_ROM_PTR(&dora_hook_stop_builtin_dhcp_obj) },
};
static MP_DEFINE_CONST_DICT(dora_hook_globals, dora_hook_globals_table);

const mp_obj_module_t dora_hook_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&dora_hook_globals,
};

MP_REGISTER_MODULE(MP_QSTR_dora_hook, dora_hook_module);

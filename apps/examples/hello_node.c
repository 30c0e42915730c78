#include <ntm/ntm.h>
#include <stdio.h>

int main(void) {
  struct ntm_config cfg;
  ntm_config_init(&cfg);
  cfg.dc_address = "127.0.0.1:7100"; /* the DC, and its key from ntm-dc --print-public-key: */
  cfg.dc_public_key = "8XkdnT6+92tF5KMr1v80+ZcsFk+VvH2ixxn++bfqJVY=";
  cfg.node_name = "client"; /* this node becomes client.<DC domain> */
  cfg.state_dir = "/var/lib/myapp/ntm";
  struct sockaddr_storage peer;
  socklen_t len = sizeof peer;
  if (ntm_start(&cfg) != 0 || /* registers; then FQDN -> vIP, which starts the tunnel */
      ntm_getaddrinfo("server.demo.ntm.test", AF_INET, 9000, (struct sockaddr*)&peer, &len)) {
    fprintf(stderr, "ntm: %s\n", ntm_last_error());
    return 1;
  }
  int s = ntm_socket(AF_INET, SOCK_STREAM, 0);
  if (ntm_connect(s, (struct sockaddr*)&peer, len) == 0) ntm_send(s, "hello\n", 6, 0);
  ntm_close(s);
  return ntm_stop(); /* 0 once the peer acknowledged the data; -1 if it could not be sent */
}

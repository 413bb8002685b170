/* /init of the vsock test guest. Listens on guest port 2000, then connects to the host (CID 2) port 1024,
 * sends a greeting and 1 MiB of a pattern, half-closes, reads the host's echo to EOF and checks it. Then
 * accepts the host's connection on port 2000, reads "ping", answers "pong", half-closes and waits for the
 * host's close. Reports on the console and powers off. */
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <unistd.h>

#define GREETING "hello from the guest"
#define BULK (1024 * 1024)

static void console(void) {
    mkdir("/dev", 0755);
    mount("devtmpfs", "/dev", "devtmpfs", 0, 0);
    int fd = open("/dev/console", O_RDWR);
    if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); }
}

static int listener = -1;

static int listen_guest_port(void) {
    listener = socket(AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm addr = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = 2000 };
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 1) != 0) {
        perror("VSOCK-FAIL listen");
        return 1;
    }
    return 0;
}

static int accept_host(void) {
    int fd = accept(listener, NULL, NULL);
    if (fd < 0) { perror("VSOCK-FAIL accept"); return 1; }
    char buf[5] = { 0 };
    size_t got = 0;
    while (got < 4) {
        ssize_t n = read(fd, buf + got, 4 - got);
        if (n <= 0) { perror("VSOCK-FAIL accept read"); return 1; }
        got += (size_t)n;
    }
    if (write(fd, "pong", 4) != 4) { perror("VSOCK-FAIL accept write"); return 1; }
    /* Packets leave through a kernel worker: wait for the host's close before powering off, or the
     * power-off can overtake "pong". */
    shutdown(fd, SHUT_WR);
    while (read(fd, buf, sizeof buf) > 0) { }
    close(fd);
    printf("VSOCK-ACCEPT-OK %s\n", buf);
    return 0;
}

static int echo(void) {
    size_t total = strlen(GREETING) + BULK;
    unsigned char *out = malloc(total), *in = malloc(total + 1);
    memcpy(out, GREETING, strlen(GREETING));
    for (size_t i = 0; i < BULK; i++) out[strlen(GREETING) + i] = (unsigned char)(i * 7 % 251);

    int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
    if (fd < 0) { perror("VSOCK-FAIL socket"); return 1; }
    struct sockaddr_vm addr = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST, .svm_port = 1024 };
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("VSOCK-FAIL connect"); return 1; }
    for (size_t sent = 0; sent < total;) {
        ssize_t n = write(fd, out + sent, total - sent);
        if (n <= 0) { perror("VSOCK-FAIL write"); return 1; }
        sent += (size_t)n;
    }
    if (shutdown(fd, SHUT_WR) != 0) { perror("VSOCK-FAIL shutdown"); return 1; }
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, in + got, total + 1 - got);
        if (n < 0) { perror("VSOCK-FAIL read"); return 1; }
        if (n == 0) break;
        got += (size_t)n;
        if (got > total) break;
    }
    close(fd);
    if (got != total || memcmp(in, out, total) != 0) { printf("VSOCK-FAIL echo of %zu bytes differs\n", got); return 1; }
    printf("VSOCK-ECHO-OK %zu %.*s\n", got, (int)strlen(GREETING), in);
    return 0;
}

int main(void) {
    console();
    if (listen_guest_port() == 0 && echo() == 0) accept_host();
    fflush(stdout);
    sync();
    reboot(RB_POWER_OFF);
    return 0;
}

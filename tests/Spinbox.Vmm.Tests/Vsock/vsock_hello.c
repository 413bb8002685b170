/* /init of the tcg vsock test guest: connects to the host (CID 2) port 1024, writes a message, reads the
 * echo until the host closes, prints it on the console and powers off. */
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void) {
    mkdir("/dev", 0755);
    mount("devtmpfs", "/dev", "devtmpfs", 0, 0);
    int console = open("/dev/console", O_RDWR);
    if (console >= 0) { dup2(console, 1); dup2(console, 2); }

    const char message[] = "spinbox vsock says hello";
    int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm host = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST, .svm_port = 1024 };
    if (fd < 0 || connect(fd, (struct sockaddr *)&host, sizeof host) != 0) {
        perror("VSOCK-FAIL connect");
    } else if (write(fd, message, sizeof message - 1) != (ssize_t)(sizeof message - 1)) {
        perror("VSOCK-FAIL write");
    } else {
        char echo[256];
        size_t got = 0;
        ssize_t n;
        while (got < sizeof echo && (n = read(fd, echo + got, sizeof echo - got)) > 0) got += (size_t)n;
        printf("VSOCK-ECHO[%.*s]\n", (int)got, echo);
    }
    fflush(stdout);
    sync();
    reboot(RB_POWER_OFF);
    return 0;
}

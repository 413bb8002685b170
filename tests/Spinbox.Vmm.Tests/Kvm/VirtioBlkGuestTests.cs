using Spinbox.Virtio.Devices.Blk;
using Spinbox.Vmm.Boot;

namespace Spinbox.Vmm.Tests.Kvm;

/// <summary>
/// A freestanding 32-bit guest drives the virtio-mmio block device by polling (no interrupts): it checks
/// magic, version and device id, negotiates VERSION_1, sets up queue 0, reads sector 0 and prints it, then
/// submits a read whose data buffer lies outside guest RAM (expects IOERR) and a good read of sector 1.
/// </summary>
public sealed class VirtioBlkGuestTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private const string Driver = """
        #include <stdint.h>
        #define MMIO 0xd0000000u
        #define NEXT 1
        #define WRITE 2

        struct desc { uint64_t addr; uint32_t len; uint16_t flags; uint16_t next; };
        struct avail { uint16_t flags, idx, ring[8]; };
        struct used_elem { uint32_t id, len; };
        struct used { uint16_t flags, idx; struct used_elem ring[8]; };
        struct req { uint32_t type, reserved; uint64_t sector; };

        #define DESC ((volatile struct desc *)0x100000)
        #define AVAIL ((volatile struct avail *)0x101000)
        #define USED ((volatile struct used *)0x102000)
        #define REQ ((volatile struct req *)0x103000)
        #define DATA ((volatile uint8_t *)0x104000)
        #define STATUS ((volatile uint8_t *)0x105000)

        static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
        static inline uint32_t rd(uint32_t off) { return *(volatile uint32_t *)(MMIO + off); }
        static inline void wr(uint32_t off, uint32_t v) { *(volatile uint32_t *)(MMIO + off) = v; }
        static void putc_(char c) { outb(0x3f8, (uint8_t)c); }
        static void puts_(const char *s) { while (*s) putc_(*s++); }
        static __attribute__((noreturn)) void halt(void) { for (;;) __asm__ volatile("hlt"); }
        static __attribute__((noreturn)) void fail(const char *why) { puts_("E:"); puts_(why); putc_('\n'); halt(); }

        static void set_desc(int i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
            DESC[i].addr = addr; DESC[i].len = len; DESC[i].flags = flags; DESC[i].next = next;
        }

        static uint16_t next_avail;

        /* One read request: header, 512-byte data buffer at data_addr, status byte. Returns the status. */
        static int submit(uint32_t sector, uint64_t data_addr) {
            REQ->type = 0; REQ->reserved = 0; REQ->sector = sector;
            *STATUS = 0xff;
            set_desc(0, 0x103000, 16, NEXT, 1);
            set_desc(1, data_addr, 512, NEXT | WRITE, 2);
            set_desc(2, 0x105000, 1, WRITE, 0);
            AVAIL->ring[next_avail % 8] = 0;
            __asm__ volatile("" : : : "memory"); /* x86 keeps stores in order */
            AVAIL->idx = ++next_avail;
            wr(0x050, 0); /* QueueNotify */
            for (uint32_t i = 0; i < 2000000; i++) {
                if (USED->idx == next_avail) return *STATUS;
                __asm__ volatile("pause");
            }
            fail("timeout waiting for the used ring");
        }

        void _start(void) __attribute__((section(".text.start"), noreturn));
        void _start(void) {
            if (rd(0x000) != 0x74726976) fail("magic");
            if (rd(0x004) != 2) fail("version");
            if (rd(0x008) != 2) fail("device id");
            wr(0x070, 0);
            wr(0x070, 1);
            wr(0x070, 1 | 2);
            wr(0x014, 1);
            if (!(rd(0x010) & 1)) fail("VERSION_1 not offered");
            wr(0x024, 1); wr(0x020, 1);
            wr(0x024, 0); wr(0x020, 0);
            wr(0x070, 1 | 2 | 8);
            if (!(rd(0x070) & 8)) fail("FEATURES_OK refused");
            wr(0x030, 0);
            if (rd(0x034) < 8) fail("queue 0 too small");
            if (rd(0x044) != 0) fail("queue 0 already ready");
            wr(0x038, 8);
            wr(0x080, 0x100000); wr(0x084, 0);
            wr(0x090, 0x101000); wr(0x094, 0);
            wr(0x0a0, 0x102000); wr(0x0a4, 0);
            wr(0x044, 1);
            wr(0x070, 1 | 2 | 8 | 4);

            if (submit(0, 0x104000) != 0) fail("sector 0 status");
            for (int i = 0; i < 512; i++) putc_(DATA[i]);
            int bad = submit(1, 0x40000000ull); /* 1 GiB: outside the 4 MiB of guest RAM */
            puts_("|bad="); putc_('0' + bad);
            int good = submit(1, 0x104000);
            puts_("|good="); putc_('0' + good); putc_('|');
            for (int i = 0; i < 512; i++) putc_(DATA[i]);
            halt();
        }
        """;

    [KvmFact]
    public void Polling_guest_reads_sector_0_and_a_request_outside_ram_fails_with_ioerr_while_the_vm_keeps_running()
    {
        using var dir = new TempDir();
        string imagePath = dir.File("disk.img");
        var image = new byte[4096];
        new Random(1234).NextBytes(image);
        File.WriteAllBytes(imagePath, image);
        var code = TestGuestBuilder.CompileC32(Driver, 0x10000);

        var logger = new TestLogger();
        using var blk = new VirtioBlkDevice(imagePath, readOnly: true, serial: "kvm-test", logger);
        using var vm = new TestVm(new FlatImage(code, 0x10000, CpuMode.Protected32, StackPointer: 0x80000), devices: [blk], logger: logger);
        var reason = vm.RunToStop(Timeout);

        byte[] expected = [.. image[..512], .. "|bad=1|good=0|"u8.ToArray(), .. image[512..1024]];
        byte[] log = vm.ConsoleLogBytes();
        Assert.True(expected.AsSpan().SequenceEqual(log),
            $"console log ({log.Length} bytes) differs; text: {System.Text.Encoding.Latin1.GetString(log)}\n{vm.Logger.Text}");
        Assert.Equal(VmStopKind.AllVcpusHalted, reason.Kind);
        Assert.Contains(vm.Logger.Lines, l => l.Contains("virtio0: device type 2 activated"));
        Assert.Equal(0, vm.Vm.QueueNotifyExits); // every kick went through KVM_IOEVENTFD
        Assert.Contains(vm.Logger.Lines, l => l.Contains("request buffer outside guest RAM"));
    }
}

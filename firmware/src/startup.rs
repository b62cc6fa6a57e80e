//! The reset routine. msp430-rt's prebuilt one carries a relocation rust-lld cannot handle, so
//! the firmware defines `Reset` itself (the crate's archive member is then never linked).
//! It holds the watchdog first, then calls `PreInit` (the board build raises the clock there:
//! the chip resets at MCLK = 1 MHz), then zeroes `.bss` and copies `.data` a word at a time
//! (msp430-rt's linker script aligns both to words). Large buffers stay out of both: the
//! session lives in FRAM (`.persistent`) and the tile buffers in `.uninit`, which the board
//! clears with one DMA block.

core::arch::global_asm!(
    ".section .Reset, \"ax\"",
    ".global Reset",
    "Reset:",
    "    mov #0x5a80, &0x015c", // WDTCTL = WDTPW | WDTHOLD
    "    mov #_stack_start, r1",
    "    call #PreInit",
    "    mov #_sbss, r4",
    "1:  cmp #_ebss, r4",
    "    jhs 2f",
    "    clr 0(r4)",
    "    incd r4",
    "    jmp 1b",
    "2:  mov #_sidata, r5",
    "    mov #_sdata, r4",
    "3:  cmp #_edata, r4",
    "    jhs 4f",
    "    mov @r5+, r6",
    "    mov r6, 0(r4)",
    "    incd r4",
    "    jmp 3b",
    "4:  br #main",
);

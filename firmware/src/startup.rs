//! The reset routine. msp430-rt's prebuilt one carries a relocation rust-lld cannot handle, so
//! the firmware defines `Reset` itself (the crate's archive member is then never linked).
//! It holds the watchdog first: zeroing SRAM at the 1 MHz reset clock outlasts its default
//! 32 ms interval.

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
    "    clr.b 0(r4)",
    "    inc r4",
    "    jmp 1b",
    "2:  mov #_sidata, r5",
    "    mov #_sdata, r4",
    "3:  cmp #_edata, r4",
    "    jhs 4f",
    "    mov.b @r5+, r6",
    "    mov.b r6, 0(r4)",
    "    inc r4",
    "    jmp 3b",
    "4:  br #main",
);

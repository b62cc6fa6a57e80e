//! The UART wire protocol between host and device.
//!
//! **Frames.** A frame is `COBS(payload ‖ CRC-32(payload) as LE) 0x00`: the zero byte delimits
//! frames, so a receiver that lost bytes resynchronises at the next zero. Payloads are postcard
//! messages of at most [`MAX_PAYLOAD`] bytes, so a frame fits a static buffer of
//! [`MAX_FRAME`] bytes on the MSP430.
//!
//! **Decoding is sans-IO.** [`FrameDecoder::push`] takes one received byte and, at a frame end,
//! hands back the payload or why the frame was bad; the same code runs in the device's UART
//! loop and in the host's serial reader, and tests drive it with plain byte slices.
//!
//! **Conversation.** The host speaks [`HostMsg`], the device answers [`DeviceMsg`]: `Hello` →
//! capabilities; `PlanBegin` / `PlanChunk`* / `PlanCommit` upload a plan with an `Ack` (next
//! expected offset) per chunk and a `Nack` (resend from that offset) on a bad frame or a chunk
//! out of sequence; `WriteInput` / `Run` start an inference that ends in `Result`, with
//! `Progress` on the way; `Bench` runs a microbenchmark for calibration; any failure is an
//! `Error` with a typed code.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::crc::crc32;

/// Largest postcard message in a frame.
pub const MAX_PAYLOAD: usize = 256;
/// Largest encoded frame, delimiter included.
pub const MAX_FRAME: usize = cobs::max_encoding_length(MAX_PAYLOAD + 4) + 1;
/// Largest data slice in one `PlanChunk` or `WriteInput`.
pub const MAX_CHUNK: usize = 192;
/// Most logits a `Result` carries.
pub const MAX_LOGITS: usize = 32;
/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// More bytes than [`MAX_FRAME`] before a delimiter.
    TooLong,
    /// Not valid COBS, or too short to hold a CRC.
    Cobs,
    /// The CRC does not match: the frame was damaged on the line.
    Crc,
    /// The output buffer is too small for the frame.
    Buffer,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FrameError::TooLong => "frame longer than the protocol allows",
            FrameError::Cobs => "frame is not valid COBS",
            FrameError::Crc => "frame CRC mismatch",
            FrameError::Buffer => "buffer too small for the frame",
        })
    }
}

/// Encodes one frame (payload, CRC, COBS, delimiter) into `out`; returns its length.
pub fn encode_frame(payload: &[u8], out: &mut [u8]) -> Result<usize, FrameError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(FrameError::TooLong);
    }
    let crc = crc32(payload).to_le_bytes();
    let mut enc = cobs::CobsEncoder::new(out);
    enc.push(payload).map_err(|_| FrameError::Buffer)?;
    enc.push(&crc).map_err(|_| FrameError::Buffer)?;
    let n = enc.finalize();
    *out.get_mut(n).ok_or(FrameError::Buffer)? = 0;
    Ok(n + 1)
}

/// A stream decoder: push received bytes in, get payloads out.
pub struct FrameDecoder {
    buf: [u8; MAX_FRAME],
    len: usize,
    overflow: bool,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    pub const fn new() -> Self {
        FrameDecoder {
            buf: [0; MAX_FRAME],
            len: 0,
            overflow: false,
        }
    }

    /// Takes one byte. At a delimiter that ends a non-empty frame, returns its payload or why it
    /// was refused; the decoder is then ready for the next frame.
    pub fn push(&mut self, byte: u8) -> Option<Result<&[u8], FrameError>> {
        if byte != 0 {
            if self.len < self.buf.len() {
                self.buf[self.len] = byte;
                self.len += 1;
            } else {
                self.overflow = true;
            }
            return None;
        }
        let (len, overflow) = (self.len, self.overflow);
        self.len = 0;
        self.overflow = false;
        if overflow {
            return Some(Err(FrameError::TooLong));
        }
        if len == 0 {
            return None;
        }
        let n = match cobs::decode_in_place(&mut self.buf[..len]) {
            Ok(n) if n >= 4 => n,
            _ => return Some(Err(FrameError::Cobs)),
        };
        let (payload, crc) = self.buf[..n].split_at(n - 4);
        if crc32(payload).to_le_bytes() != crc {
            return Some(Err(FrameError::Crc));
        }
        Some(Ok(payload))
    }
}

/// A 48-bit count (cycles), carried without 64-bit arithmetic on the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count48 {
    pub hi: u16,
    pub lo: u32,
}

impl Count48 {
    /// The value, on the host.
    pub fn get(self) -> u64 {
        (u64::from(self.hi) << 32) | u64::from(self.lo)
    }
}

/// What a device is and offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    pub protocol: u16,
    /// Device name, zero-padded (e.g. `MSP430FR5994`).
    pub device: [u8; 16],
    /// Firmware version: major, minor, patch.
    pub firmware: [u8; 3],
    pub plan_format: u16,
    pub vm_bytes: u32,
    pub nvm_bytes: u32,
    /// Largest plan the device stores, in bytes.
    pub max_plan_bytes: u32,
    pub max_chunk: u16,
    /// CPU clock of the cycle counter, in Hz.
    pub clock_hz: u32,
}

/// How to run an inference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunMode {
    /// The paper's contract: one preservation batch per power cycle, then power down.
    Intermittent,
    /// Continuous power: run to the end.
    Continuous,
}

/// Microbenchmarks the device runs for calibration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BenchKind {
    /// NVM → VM block transfer of `n` words.
    Read,
    /// VM → NVM block transfer of `n` words.
    Write,
    /// A MAC of length `n`.
    Mac,
    /// One footprint commit.
    Commit,
    /// Boot to ready (measured at the next boot).
    Boot,
    /// A batch's bookkeeping: the footprint read, its commit, the run counters' commit and a
    /// cycle-counter read.
    Batch,
    /// One MAC call of `n` outputs, each of 8 products (with `Mac`, it separates what an output
    /// costs from what a call does).
    Outputs,
    /// One tile transfer (`Nvm::read_blocks`) of `n` blocks of one word: what a block costs
    /// inside a transfer, apart from what the transfer's call costs.
    ReadBlocks,
    /// The same for `Nvm::write_blocks`.
    WriteBlocks,
    /// One `Mac::pool` call of one channel over `n` pixels: what a pooled element costs.
    Pool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostMsg<'a> {
    Hello,
    PlanBegin {
        len: u32,
        crc32: u32,
    },
    PlanChunk {
        offset: u32,
        #[serde(borrow)]
        data: &'a [u8],
    },
    PlanCommit,
    /// Input values (little-endian i16) starting at value `offset`.
    WriteInput {
        offset: u32,
        #[serde(borrow)]
        data: &'a [u8],
    },
    Run {
        mode: RunMode,
    },
    /// Asks where the run stands: `Progress`, or once a run has finished (and until the next
    /// input or plan) its `Result` again, for a host that lost it on the line.
    Status,
    Bench {
        kind: BenchKind,
        n: u16,
        reps: u16,
    },
}

/// Typed failures the device reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// A frame failed its CRC (resend).
    FrameCrc,
    /// A frame was not valid COBS or too long.
    Frame,
    /// The payload is not a message.
    Decode,
    /// A message that makes no sense now (e.g. a chunk without `PlanBegin`).
    Sequence,
    /// The plan is larger than the device stores.
    PlanTooLarge,
    /// The uploaded bytes do not match the announced CRC.
    PlanCrc,
    /// The plan was refused by validation; `detail` says which check.
    PlanInvalid,
    /// Running needs a stored plan.
    NoPlan,
    /// Input larger than the plan's input.
    InputSize,
    /// The engine stopped: `detail` has the layer.
    Engine,
    Unsupported,
    /// Running needs an input written since the last run (a run overwrites it).
    NoInput,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunResult {
    pub plan_id: u32,
    pub logits: heapless::Vec<i16, MAX_LOGITS>,
    /// Cycles the device was on while running (its off-time it cannot see).
    pub on_cycles: Count48,
    pub power_cycles: u32,
    /// Off-time, if the device has a clock that survives power failures (ms).
    pub off_time_ms: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceMsg {
    Hello(Capabilities),
    /// Everything before `next` is stored; send from there.
    Ack {
        next: u32,
    },
    /// Resend from `next`, because of `why`.
    Nack {
        next: u32,
        why: ErrorCode,
    },
    PlanStored {
        plan_id: u32,
    },
    Progress {
        layer: u16,
        tile: u32,
        power_cycles: u32,
    },
    Result(RunResult),
    BenchResult {
        kind: BenchKind,
        n: u16,
        reps: u16,
        cycles: Count48,
    },
    Error {
        code: ErrorCode,
        detail: u32,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    Frame(FrameError),
    /// The message does not fit a frame, or the payload is not a message of this side.
    Message,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Frame(e) => write!(f, "{e}"),
            WireError::Message => f.write_str("payload is not a valid message"),
        }
    }
}

/// Serializes a message and frames it into `out`; returns the frame's length.
pub fn encode_message<T: Serialize>(msg: &T, out: &mut [u8]) -> Result<usize, WireError> {
    let mut payload = [0u8; MAX_PAYLOAD];
    let p = postcard::to_slice(msg, &mut payload).map_err(|_| WireError::Message)?;
    encode_frame(p, out).map_err(WireError::Frame)
}

/// Decodes a frame's payload as a message; trailing bytes are refused.
pub fn decode_message<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> Result<T, WireError> {
    match postcard::take_from_bytes::<T>(payload) {
        Ok((m, [])) => Ok(m),
        _ => Err(WireError::Message),
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn frames_of(bytes: &[u8]) -> Vec<Result<Vec<u8>, FrameError>> {
        let mut d = FrameDecoder::new();
        let mut out = Vec::new();
        for &b in bytes {
            if let Some(r) = d.push(b) {
                out.push(r.map(|p| p.to_vec()));
            }
        }
        out
    }

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut out = [0u8; MAX_FRAME];
        let n = encode_frame(payload, &mut out).unwrap();
        out[..n].to_vec()
    }

    #[test]
    fn messages_round_trip_through_frames() {
        let data = [1u8, 0, 2, 0, 0, 3];
        let host = [
            HostMsg::Hello,
            HostMsg::PlanBegin {
                len: 5000,
                crc32: 0xDEAD_BEEF,
            },
            HostMsg::PlanChunk {
                offset: 192,
                data: &data,
            },
            HostMsg::PlanCommit,
            HostMsg::WriteInput {
                offset: 0,
                data: &data,
            },
            HostMsg::Run {
                mode: RunMode::Intermittent,
            },
            HostMsg::Status,
            HostMsg::Bench {
                kind: BenchKind::Mac,
                n: 24,
                reps: 100,
            },
        ];
        for m in host {
            let mut out = [0u8; MAX_FRAME];
            let n = encode_message(&m, &mut out).unwrap();
            let got = frames_of(&out[..n]);
            let payload = got[0].as_ref().unwrap();
            assert_eq!(decode_message::<HostMsg>(payload), Ok(m));
        }
        let result = DeviceMsg::Result(RunResult {
            plan_id: 3,
            logits: heapless::Vec::from_slice(&[i16::MIN, 0, i16::MAX]).unwrap(),
            on_cycles: Count48 { hi: 1, lo: 7 },
            power_cycles: 514,
            off_time_ms: None,
        });
        let mut out = [0u8; MAX_FRAME];
        let n = encode_message(&result, &mut out).unwrap();
        let payload = frames_of(&out[..n]).remove(0).unwrap();
        assert_eq!(decode_message::<DeviceMsg>(&payload), Ok(result));
        assert_eq!(Count48 { hi: 1, lo: 7 }.get(), (1 << 32) + 7);
    }

    #[test]
    fn damaged_and_oversized_frames_are_reported_and_the_stream_resyncs() {
        let good = frame(b"hello");
        let mut damaged = good.clone();
        damaged[2] ^= 0x40;
        let long = std::vec![7u8; MAX_FRAME + 10];
        let stream: Vec<u8> = [&damaged[..], &long, &[0], &[0, 0], &good].concat();
        let got = frames_of(&stream);
        assert_eq!(
            got,
            std::vec![
                Err(FrameError::Crc),
                Err(FrameError::TooLong),
                Ok(b"hello".to_vec())
            ]
        );
        assert_eq!(frames_of(&[5, 0]), std::vec![Err(FrameError::Cobs)]);
    }

    #[test]
    fn the_largest_message_fits_a_frame() {
        let data = [0xFFu8; MAX_CHUNK];
        let m = HostMsg::PlanChunk {
            offset: u32::MAX,
            data: &data,
        };
        let mut out = [0u8; MAX_FRAME];
        assert!(encode_message(&m, &mut out).is_ok());
        assert_eq!(
            encode_frame(&[0; MAX_PAYLOAD + 1], &mut out),
            Err(FrameError::TooLong)
        );
    }

    proptest! {
        /// Any payload survives framing, even split among garbage that ends in a delimiter.
        #[test]
        fn frames_round_trip(payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..MAX_PAYLOAD), 1..5)) {
            let stream: Vec<u8> = payloads.iter().flat_map(|p| frame(p)).collect();
            let got: Vec<Vec<u8>> = frames_of(&stream).into_iter().map(|r| r.unwrap()).collect();
            prop_assert_eq!(got, payloads);
        }

        /// Random bytes never panic the decoder, and after a delimiter a good frame decodes.
        #[test]
        fn decoder_is_total(noise in prop::collection::vec(any::<u8>(), 0..2000)) {
            let mut d = FrameDecoder::new();
            for &b in &noise {
                if let Some(Ok(p)) = d.push(b) {
                    let _ = decode_message::<HostMsg>(p);
                    let _ = decode_message::<DeviceMsg>(p);
                }
            }
            let stream: Vec<u8> = [&[0u8][..], &frame(b"ok")].concat();
            let got: Vec<_> = stream.iter().filter_map(|&b| d.push(b).map(|r| r.map(|p| p.to_vec()))).collect();
            prop_assert_eq!(got.last().cloned(), Some(Ok(b"ok".to_vec())));
        }
    }
}

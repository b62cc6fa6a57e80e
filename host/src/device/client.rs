//! The host's half of the wire protocol, over any [`Link`]: hello and capability check, plan
//! upload with resend, inputs, runs, status and microbenchmarks.
//!
//! Every request is sent whole, then answered within a deadline on the link's clock. The line
//! may damage or drop bytes either way: a damaged request is answered with a frame error and
//! sent again; a lost or damaged answer times out or fails its CRC and the request is sent again.
//! That is safe because every request is idempotent or its answer says where the device stands
//! (`Ack { next }`). After `tries` sends without progress the client gives up, naming what it
//! was doing and the last failure.

use std::collections::VecDeque;
use std::time::Duration;

use inas_common::plan::{self, Limits, Plan, FORMAT_VERSION};
use inas_common::wire::{
    decode_message, encode_message, BenchKind, Capabilities, DeviceMsg, ErrorCode, FrameDecoder,
    HostMsg, RunMode, RunResult, MAX_FRAME, PROTOCOL_VERSION,
};
use serde::Serialize;
use thiserror::Error;

use super::link::{Link, LinkError, Phase};

/// Retry and timeout policy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    /// How long to wait for the answer to a request (runs and benchmarks excepted).
    pub reply_timeout: Duration,
    /// How long an inference or a benchmark may take.
    pub run_timeout: Duration,
    /// Sends of one request (or one upload restart) before giving up.
    pub tries: u32,
    /// Time one byte takes on the line (0 if unknown): an inference is timed to the start of
    /// its result frame, so results of different lengths time alike.
    pub byte_time: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            reply_timeout: Duration::from_secs(2),
            run_timeout: Duration::from_secs(600),
            tries: 8,
            byte_time: Duration::ZERO,
        }
    }
}

#[derive(Debug, Error)]
pub enum ClientError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("{what}: gave up after {tries} tries (last: {last})")]
    GaveUp {
        what: String,
        tries: u32,
        last: String,
    },
    #[error("{what}: no answer within {after:.1?}")]
    Timeout { what: String, after: Duration },
    #[error("{what}: the device refused: {}", describe_error(*.code, *.detail))]
    Device {
        what: String,
        code: ErrorCode,
        detail: u32,
    },
    #[error("the plan does not fit this device: {0}")]
    DoesNotFit(String),
    #[error("the device is not compatible: {0}")]
    Incompatible(String),
    #[error("the plan file is not valid: {0}")]
    BadPlan(String),
    #[error("{what}: the device answered {got}")]
    Unexpected { what: String, got: String },
    #[error("the run finished but its result was lost on the line")]
    ResultLost,
}

/// What a device error code means, with its detail.
pub fn describe_error(code: ErrorCode, detail: u32) -> String {
    match code {
        ErrorCode::FrameCrc => "a frame arrived damaged (CRC)".into(),
        ErrorCode::Frame => "a frame was malformed or too long".into(),
        ErrorCode::Decode => format!("a {detail}-byte payload is not a message"),
        ErrorCode::Sequence => format!("message out of sequence (detail {detail})"),
        ErrorCode::PlanTooLarge => format!("plan too large (the device stores at most {detail} B)"),
        ErrorCode::PlanCrc => "the uploaded bytes do not match the plan's CRC".into(),
        ErrorCode::PlanInvalid => format!("plan refused by validation (check {detail:#08x})"),
        ErrorCode::NoPlan => "no plan is stored".into(),
        ErrorCode::InputSize => format!("input too long (the plan's input has {detail} values)"),
        ErrorCode::Engine => format!("the engine stopped in layer {detail}"),
        ErrorCode::Unsupported => format!("not supported (detail {detail})"),
        ErrorCode::NoInput => "no input written since the last run".into(),
    }
}

/// What the client did on the line so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub frames_sent: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Requests sent again (damaged, lost, or refused as out of sequence).
    pub resends: u64,
    /// Frames from the device that failed their CRC or did not decode.
    pub bad_frames: u64,
    pub timeouts: u64,
    /// Uploads started again from the beginning (the device lost the upload, e.g. a reset).
    pub upload_restarts: u64,
}

/// One upload.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Deployed {
    pub plan_id: u32,
    pub bytes: u32,
    /// Time on the link's clock from the first request to the commit's answer.
    pub elapsed_s: f64,
    /// Line statistics of this upload alone.
    pub stats: Stats,
}

/// One inference: the device's result and the host's end-to-end time (from sending `Run` to
/// receiving the result, on the link's clock).
#[derive(Clone, Debug, PartialEq)]
pub struct Inference {
    pub result: RunResult,
    pub host_latency: Duration,
}

/// What a device reports of the run in progress or last run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub layer: u16,
    pub tile: u32,
    pub power_cycles: u32,
}

/// A device's answer to a status request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunStatus {
    /// The run in progress (or one that ended without a result, or none yet).
    Progress(Progress),
    /// The last run finished with this result (kept until the next input or plan).
    Finished(RunResult),
}

enum Received {
    Msg(DeviceMsg),
    /// A frame that failed its CRC or COBS, or did not decode as a device message.
    Bad(String),
}

/// How a request handler judges an answer.
enum Verdict<T> {
    Done(T),
    Fail(ClientError),
    /// The request did not arrive intact: send it again.
    Resend(String),
    /// Not an answer to this request (a late one to an earlier request): keep waiting.
    Ignore,
}

/// A chunked transfer: `total` bytes from `at`, chunks of at most `max`, a multiple of `align`.
struct Chunks {
    at: usize,
    total: usize,
    max: usize,
    align: usize,
}

/// Where a chunk left the device: standing at byte `At` of the transfer, or without it.
enum Chunk {
    At(usize),
    Lost,
}

/// How a chunked transfer ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sent {
    Done,
    /// The device no longer holds the transfer (it was reset): start it again.
    Lost,
}

fn frame_trouble(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::FrameCrc | ErrorCode::Frame | ErrorCode::Decode
    )
}

/// Data bytes per frame, adapted to the line: a frame of b bytes survives a byte error rate p
/// with probability (1 − p)^b, so on a bad line long frames almost never get through. Halved
/// after a failed frame (down to [`ChunkSize::MIN`]), doubled after a run of good ones.
#[derive(Clone, Copy, Debug)]
struct ChunkSize {
    now: usize,
    max: usize,
    good: u32,
}

impl ChunkSize {
    const MIN: usize = 16;
    /// Good frames in a row before growing again.
    const GROW_AFTER: u32 = 8;

    fn new(max: usize) -> ChunkSize {
        ChunkSize {
            now: max.max(2),
            max: max.max(2),
            good: 0,
        }
    }

    fn get(&self) -> usize {
        self.now
    }

    fn failed(&mut self) {
        self.now = (self.now / 2).max(Self::MIN.min(self.max));
        self.good = 0;
    }

    fn worked(&mut self) {
        self.good += 1;
        if self.good >= Self::GROW_AFTER {
            self.now = (self.now * 2).min(self.max);
            self.good = 0;
        }
    }
}

pub struct Client<L> {
    link: L,
    decoder: FrameDecoder,
    rx: VecDeque<u8>,
    opts: Options,
    stats: Stats,
    caps: Option<Capabilities>,
    /// Smoothed round trip of data frames (chunks, inputs), for their shorter timeout.
    srtt: Option<Duration>,
    /// Bytes of the frame being received, and of the last one completed.
    frame_bytes: usize,
    last_frame_bytes: usize,
}

impl<L: Link> Client<L> {
    pub fn new(link: L, opts: Options) -> Client<L> {
        Client {
            link,
            decoder: FrameDecoder::new(),
            rx: VecDeque::new(),
            opts,
            stats: Stats::default(),
            caps: None,
            srtt: None,
            frame_bytes: 0,
            last_frame_bytes: 0,
        }
    }

    pub fn link(&self) -> &L {
        &self.link
    }

    /// The link back, e.g. to read an emulator's run report.
    pub fn into_link(self) -> L {
        self.link
    }

    pub fn link_mut(&mut self) -> &mut L {
        &mut self.link
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub fn options(&self) -> Options {
        self.opts
    }

    pub fn set_options(&mut self, opts: Options) {
        self.opts = opts;
    }

    /// The link's clock.
    pub fn now(&self) -> Duration {
        self.link.now()
    }

    fn send(&mut self, msg: &HostMsg<'_>) -> Result<(), ClientError> {
        // A leading delimiter ends whatever a damaged earlier frame left in the device's
        // decoder (an empty frame is ignored), so this one is not swallowed with it.
        let mut frame = [0u8; MAX_FRAME + 1];
        let n = encode_message(msg, &mut frame[1..]).map_err(|e| ClientError::Unexpected {
            what: "encoding a request".into(),
            got: e.to_string(),
        })?;
        self.link.send(&frame[..n + 1])?;
        self.stats.frames_sent += 1;
        self.stats.bytes_sent += n as u64 + 1;
        Ok(())
    }

    /// The next frame from the device, or `None` when `deadline` passes first.
    fn next(&mut self, deadline: Duration) -> Result<Option<Received>, ClientError> {
        self.next_or_cut(deadline, Duration::MAX)
    }

    /// [`Client::next`], where a frame that stops for `gap` without its delimiter is damaged:
    /// a device that browns out while it sends leaves it unfinished.
    fn next_or_cut(
        &mut self,
        deadline: Duration,
        gap: Duration,
    ) -> Result<Option<Received>, ClientError> {
        loop {
            while let Some(b) = self.rx.pop_front() {
                self.frame_bytes += 1;
                let Some(frame) = self.decoder.push(b) else {
                    if b == 0 {
                        self.frame_bytes = 0;
                    }
                    continue;
                };
                self.last_frame_bytes = std::mem::take(&mut self.frame_bytes);
                let got = match frame {
                    Ok(p) => match decode_message::<DeviceMsg>(p) {
                        Ok(m) => Received::Msg(m),
                        Err(e) => Received::Bad(e.to_string()),
                    },
                    Err(e) => Received::Bad(e.to_string()),
                };
                if matches!(got, Received::Bad(_)) {
                    self.stats.bad_frames += 1;
                }
                return Ok(Some(got));
            }
            let mut buf = [0u8; 512];
            let cut_at = (self.frame_bytes > 0)
                .then(|| self.link.now().saturating_add(gap))
                .filter(|&t| t < deadline);
            let n = self.link.recv(&mut buf, cut_at.unwrap_or(deadline))?;
            if n == 0 && cut_at.is_some() {
                self.decoder = FrameDecoder::new();
                self.frame_bytes = 0;
                self.stats.bad_frames += 1;
                return Ok(Some(Received::Bad("a frame cut short".into())));
            }
            if n == 0 {
                return Ok(None);
            }
            self.stats.bytes_received += n as u64;
            self.rx.extend(&buf[..n]);
        }
    }

    /// Discards whatever the device sent that nobody asked for (late answers, noise), so the
    /// next request's answer is not confused with them.
    fn drain(&mut self) -> Result<(), ClientError> {
        let now = self.link.now();
        while self.next(now)?.is_some() {}
        self.rx.clear();
        self.decoder = FrameDecoder::new();
        Ok(())
    }

    /// Sends `msg` once and waits for an answer `judge` accepts: `Ok(Err(why))` when the
    /// request should be sent again (damaged either way, or no answer in time).
    fn attempt<T>(
        &mut self,
        msg: &HostMsg<'_>,
        timeout: Duration,
        judge: &mut impl FnMut(DeviceMsg) -> Verdict<T>,
    ) -> Result<Result<T, String>, ClientError> {
        self.drain()?;
        self.send(msg)?;
        let deadline = self.link.now() + timeout;
        loop {
            match self.next(deadline)? {
                None => {
                    self.stats.timeouts += 1;
                    return Ok(Err(format!("no answer within {timeout:.1?}")));
                }
                // The answer was damaged: ask again (requests are idempotent).
                Some(Received::Bad(why)) => return Ok(Err(format!("damaged answer ({why})"))),
                Some(Received::Msg(m)) => match judge(m) {
                    Verdict::Done(t) => return Ok(Ok(t)),
                    Verdict::Fail(e) => return Err(e),
                    Verdict::Resend(why) => return Ok(Err(why)),
                    Verdict::Ignore => {}
                },
            }
        }
    }

    /// Timeout of a data frame (plan chunk, input): a few smoothed round trips, at least 50 ms
    /// and at most the reply timeout, so a lost frame costs little on a fast link. A reply
    /// timeout under 50 ms wins over the floor. Commands whose handling may take long (commit,
    /// runs, benchmarks) wait the full timeouts instead.
    fn data_timeout(&self) -> Duration {
        match self.srtt {
            Some(rtt) => (rtt * 4)
                .max(Duration::from_millis(50))
                .min(self.opts.reply_timeout),
            None => self.opts.reply_timeout,
        }
    }

    /// A data frame was answered `rtt` after it was sent.
    fn answered_in(&mut self, rtt: Duration) {
        self.srtt = Some(match self.srtt {
            None => rtt,
            Some(s) => (s * 7 + rtt) / 8,
        });
    }

    /// Sends `msg` until `judge` accepts an answer, resending on damage and timeouts.
    fn request<T>(
        &mut self,
        what: &str,
        msg: &HostMsg<'_>,
        timeout: Duration,
        mut judge: impl FnMut(DeviceMsg) -> Verdict<T>,
    ) -> Result<T, ClientError> {
        let mut last = String::from("nothing sent");
        for attempt in 0..self.opts.tries.max(1) {
            if attempt > 0 {
                self.stats.resends += 1;
            }
            match self.attempt(msg, timeout, &mut judge)? {
                Ok(t) => return Ok(t),
                Err(why) => last = why,
            }
        }
        Err(ClientError::GaveUp {
            what: what.to_owned(),
            tries: self.opts.tries.max(1),
            last,
        })
    }

    /// Asks the device what it is; checks it speaks this protocol and plan format.
    pub fn hello(&mut self) -> Result<Capabilities, ClientError> {
        let caps = self.request(
            "hello",
            &HostMsg::Hello,
            self.opts.reply_timeout,
            |m| match m {
                DeviceMsg::Hello(c) => Verdict::Done(c),
                DeviceMsg::Error { code, .. } if frame_trouble(code) => {
                    Verdict::Resend(describe_error(code, 0))
                }
                _ => Verdict::Ignore,
            },
        )?;
        if caps.protocol != PROTOCOL_VERSION {
            return Err(ClientError::Incompatible(format!(
                "it speaks protocol {}, this host {PROTOCOL_VERSION}",
                caps.protocol
            )));
        }
        if caps.plan_format != FORMAT_VERSION {
            return Err(ClientError::Incompatible(format!(
                "it runs plan format {}, this host writes {FORMAT_VERSION}",
                caps.plan_format
            )));
        }
        self.caps = Some(caps);
        Ok(caps)
    }

    /// The capabilities from the last hello (saying hello first if needed).
    pub fn capabilities(&mut self) -> Result<Capabilities, ClientError> {
        match self.caps {
            Some(c) => Ok(c),
            None => self.hello(),
        }
    }

    /// Uploads a plan: capability check, chunks with resend, commit. The device keeps its
    /// current plan until the commit succeeds. `progress(acked, total)` follows the upload.
    pub fn deploy(
        &mut self,
        plan: &[u8],
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Deployed, ClientError> {
        let decoded = Plan::decode(plan).map_err(|e| ClientError::BadPlan(e.to_string()))?;
        let plan_id = decoded.meta.plan_id;
        let crc32 = plan::plan_crc(plan);
        self.link.phase(Phase::Transfer)?;
        let caps = self.capabilities()?;
        check_fit(&caps, &decoded, plan.len())?;
        let len = plan.len() as u32;
        let chunk = usize::from(caps.max_chunk).clamp(1, inas_common::wire::MAX_CHUNK);
        let start = self.link.now();
        let before = self.stats;
        let mut restarts = 0;
        // Where the last restart continued from: a restart that gets no further counts
        // against `tries`, one that a reset interrupted after progress does not.
        let mut resumed_at = 0u32;
        'upload: loop {
            // A device that kept the progress of this plan's upload across a reset continues
            // where it stands; otherwise from 0.
            let at = self.request(
                "starting the upload",
                &HostMsg::PlanBegin { len, crc32 },
                self.opts.reply_timeout,
                |m| match m {
                    DeviceMsg::Ack { next } if next <= len => Verdict::Done(next),
                    DeviceMsg::Error { code, detail } if frame_trouble(code) => {
                        Verdict::Resend(describe_error(code, detail))
                    }
                    DeviceMsg::Error {
                        code: ErrorCode::PlanTooLarge,
                        detail,
                    } => Verdict::Fail(ClientError::DoesNotFit(format!(
                        "the plan is {len} B, the device stores at most {detail} B"
                    ))),
                    DeviceMsg::Error { code, detail } => Verdict::Fail(ClientError::Device {
                        what: "starting the upload".into(),
                        code,
                        detail,
                    }),
                    _ => Verdict::Ignore,
                },
            )?;
            if at > resumed_at {
                restarts = 0;
            }
            resumed_at = at;
            progress(u64::from(at), u64::from(len));
            let sent = self.send_chunks(
                Chunks {
                    at: at as usize,
                    total: plan.len(),
                    max: chunk,
                    align: 1,
                },
                &|at| format!("uploading the plan at byte {at} of {len}"),
                &|at, end| HostMsg::PlanChunk {
                    offset: at as u32,
                    data: &plan[at..end],
                },
                &mut |m, at, _| match m {
                    // Acks and nacks both say where the device stands.
                    DeviceMsg::Ack { next } | DeviceMsg::Nack { next, .. } if next <= len => {
                        Verdict::Done(Chunk::At(next as usize))
                    }
                    DeviceMsg::Error { code, detail } if frame_trouble(code) => {
                        Verdict::Resend(describe_error(code, detail))
                    }
                    // The device has no upload in progress (it was reset, or a benchmark
                    // abandoned it): start again.
                    DeviceMsg::Error {
                        code: ErrorCode::Sequence,
                        ..
                    } => Verdict::Done(Chunk::Lost),
                    DeviceMsg::Error { code, detail } => Verdict::Fail(ClientError::Device {
                        what: format!("uploading the plan at byte {at}"),
                        code,
                        detail,
                    }),
                    _ => Verdict::Ignore,
                },
                &mut |at| progress(at as u64, u64::from(len)),
            )?;
            if sent == Sent::Lost {
                restarts += 1;
                self.stats.upload_restarts += 1;
                if restarts > self.opts.tries.max(1) {
                    return Err(ClientError::GaveUp {
                        what: "uploading the plan (the device kept losing the upload)".into(),
                        tries: restarts,
                        last: "the device had no upload in progress".into(),
                    });
                }
                continue 'upload;
            }
            let committed = self.request(
                "committing the plan",
                &HostMsg::PlanCommit,
                self.opts.reply_timeout,
                |m| match m {
                    DeviceMsg::PlanStored { plan_id } => Verdict::Done(Ok(plan_id)),
                    DeviceMsg::Error { code, detail } if frame_trouble(code) => {
                        Verdict::Resend(describe_error(code, detail))
                    }
                    // Incomplete, or a resent commit after the first one landed: the device
                    // holds no upload; uploading again is always safe.
                    DeviceMsg::Error {
                        code: ErrorCode::Sequence | ErrorCode::PlanCrc,
                        detail,
                    } => Verdict::Done(Err(detail)),
                    DeviceMsg::Error { code, detail } => Verdict::Fail(ClientError::Device {
                        what: "committing the plan".into(),
                        code,
                        detail,
                    }),
                    _ => Verdict::Ignore,
                },
            )?;
            match committed {
                Ok(id) if id == plan_id => break,
                Ok(id) => {
                    return Err(ClientError::Unexpected {
                        what: "committing the plan".into(),
                        got: format!("plan {id} stored, expected plan {plan_id}"),
                    })
                }
                Err(detail) => {
                    restarts += 1;
                    self.stats.upload_restarts += 1;
                    if restarts > self.opts.tries.max(1) {
                        return Err(ClientError::GaveUp {
                            what: "committing the plan".into(),
                            tries: restarts,
                            last: format!("the device held no complete upload (detail {detail})"),
                        });
                    }
                }
            }
        }
        let s = self.stats;
        Ok(Deployed {
            plan_id,
            bytes: len,
            elapsed_s: (self.link.now() - start).as_secs_f64(),
            stats: Stats {
                frames_sent: s.frames_sent - before.frames_sent,
                bytes_sent: s.bytes_sent - before.bytes_sent,
                bytes_received: s.bytes_received - before.bytes_received,
                resends: s.resends - before.resends,
                bad_frames: s.bad_frames - before.bad_frames,
                timeouts: s.timeouts - before.timeouts,
                upload_restarts: s.upload_restarts - before.upload_restarts,
            },
        })
    }

    /// Writes the next run's input (Q15 values).
    pub fn write_input(&mut self, input: &[i16]) -> Result<(), ClientError> {
        self.link.phase(Phase::Transfer)?;
        let bytes: Vec<u8> = input.iter().flat_map(|v| v.to_le_bytes()).collect();
        let sent = self.send_chunks(
            Chunks {
                at: 0,
                total: bytes.len(),
                max: inas_common::wire::MAX_CHUNK,
                // Whole values only.
                align: 2,
            },
            &|at| format!("writing the input at value {}", at / 2),
            &|at, end| HostMsg::WriteInput {
                offset: (at / 2) as u32,
                data: &bytes[at..end],
            },
            &mut |m, _, end| match m {
                DeviceMsg::Ack { next } if next as usize == end / 2 => {
                    Verdict::Done(Chunk::At(end))
                }
                DeviceMsg::Error { code, detail } if frame_trouble(code) => {
                    Verdict::Resend(describe_error(code, detail))
                }
                DeviceMsg::Error {
                    code: ErrorCode::InputSize,
                    detail,
                } => Verdict::Fail(ClientError::DoesNotFit(format!(
                    "the input has {} values, the plan's input {detail}",
                    input.len()
                ))),
                DeviceMsg::Error { code, detail } => Verdict::Fail(ClientError::Device {
                    what: "writing the input".into(),
                    code,
                    detail,
                }),
                _ => Verdict::Ignore,
            },
            &mut |_| {},
        )?;
        match sent {
            Sent::Done => Ok(()),
            Sent::Lost => Err(ClientError::Unexpected {
                what: "writing the input".into(),
                got: "a lost transfer".into(),
            }),
        }
    }

    /// Sends `c.total` bytes from `c.at` in chunks (`msg(at, end)`), each as large as the line
    /// has lately carried (`ChunkSize`, at most `c.max`, a multiple of `c.align`), resending a
    /// chunk until `tries` attempts in a row got nowhere. `judge(reply, at, end)` says where the
    /// device stands after a chunk (it may ask to resend from earlier) or that it lost the
    /// transfer; `progress(at)` follows every advance. The one chunk loop of plan uploads and
    /// input writes.
    fn send_chunks<'b>(
        &mut self,
        c: Chunks,
        what: &dyn Fn(usize) -> String,
        msg: &dyn Fn(usize, usize) -> HostMsg<'b>,
        judge: &mut dyn FnMut(DeviceMsg, usize, usize) -> Verdict<Chunk>,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Sent, ClientError> {
        let mut size = ChunkSize::new(c.max);
        let mut at = c.at;
        let mut stalls = 0u32;
        let mut last = String::new();
        while at < c.total {
            if stalls >= self.opts.tries.max(1) {
                return Err(ClientError::GaveUp {
                    what: what(at),
                    tries: stalls,
                    last,
                });
            }
            if stalls > 0 {
                self.stats.resends += 1;
            }
            let end = (at + size.get() / c.align * c.align).min(c.total);
            let sent = self.link.now();
            let answer = self.attempt(&msg(at, end), self.data_timeout(), &mut |m| {
                judge(m, at, end)
            })?;
            match answer {
                Ok(Chunk::At(next)) if next > at => {
                    self.answered_in(self.link.now() - sent);
                    at = next;
                    stalls = 0;
                    size.worked();
                    progress(at);
                }
                Ok(Chunk::At(next)) => {
                    at = next;
                    stalls += 1;
                    last = format!("the device asked to resend from byte {next}");
                }
                Ok(Chunk::Lost) => return Ok(Sent::Lost),
                Err(why) => {
                    stalls += 1;
                    size.failed();
                    last = why;
                }
            }
        }
        Ok(Sent::Done)
    }

    /// Starts a run of the written input and waits for its result. `layers` is the plan's layer
    /// count: a device that reports a finished run whose result never arrived intact gives
    /// [`ClientError::ResultLost`] (write the input again and rerun).
    pub fn run(&mut self, mode: RunMode, layers: u16) -> Result<Inference, ClientError> {
        self.link.phase(Phase::Run)?;
        self.drain()?;
        let what = "running the plan";
        // From before the command goes out: a simulated link runs the board inside `send`.
        let mut started = self.link.now();
        self.send(&HostMsg::Run { mode })?;
        let deadline = self.link.now() + self.opts.run_timeout;
        let mut resent = 0;
        // Whether the last request was a `Status` (sent when a damaged frame may have been the
        // result): a frame error then means the status request was damaged, not the run's.
        let mut asked_status = false;
        loop {
            // A frame the device began as its supply died ends in silence, not in a delimiter:
            // after a reply's time without a byte, it is a damaged frame.
            let got = match self.next_or_cut(deadline, self.opts.reply_timeout)? {
                None => {
                    self.stats.timeouts += 1;
                    return Err(ClientError::Timeout {
                        what: what.into(),
                        after: self.opts.run_timeout,
                    });
                }
                Some(got) => got,
            };
            match got {
                Received::Msg(DeviceMsg::Result(result)) => {
                    // Bytes already read past the result arrived after it.
                    let after = self.opts.byte_time * (self.rx.len() as u32);
                    let frame = self.opts.byte_time * (self.last_frame_bytes as u32);
                    let end = self.link.now().saturating_sub(after);
                    return Ok(Inference {
                        result,
                        host_latency: end.saturating_sub(started).saturating_sub(frame),
                    });
                }
                Received::Msg(DeviceMsg::Error { code, detail }) if frame_trouble(code) => {
                    if resent >= self.opts.tries.max(1) {
                        return Err(ClientError::GaveUp {
                            what: what.into(),
                            tries: resent,
                            last: describe_error(code, detail),
                        });
                    }
                    resent += 1;
                    self.stats.resends += 1;
                    if asked_status {
                        self.send(&HostMsg::Status)?;
                    } else {
                        started = self.link.now();
                        self.send(&HostMsg::Run { mode })?;
                    }
                }
                // An earlier `Run` got through after all and consumed the input.
                Received::Msg(DeviceMsg::Error {
                    code: ErrorCode::NoInput,
                    ..
                }) if resent > 0 => {}
                Received::Msg(DeviceMsg::Error { code, detail }) => {
                    return Err(ClientError::Device {
                        what: what.into(),
                        code,
                        detail,
                    })
                }
                Received::Msg(DeviceMsg::Progress { layer, .. }) if layer >= layers => {
                    return Err(ClientError::ResultLost)
                }
                Received::Msg(_) => {}
                // Perhaps the result: ask where the run stands (a device answers once its run
                // is over, after any result, and then with the result again).
                Received::Bad(_) => {
                    if resent >= self.opts.tries.max(1) {
                        return Err(ClientError::ResultLost);
                    }
                    resent += 1;
                    asked_status = true;
                    self.send(&HostMsg::Status)?;
                }
            }
        }
    }

    /// Writes an input and runs it, again from the input when the result is lost on the line.
    pub fn infer(
        &mut self,
        input: &[i16],
        mode: RunMode,
        layers: u16,
    ) -> Result<Inference, ClientError> {
        let tries = self.opts.tries.max(1);
        for _ in 0..tries {
            self.write_input(input)?;
            match self.run(mode, layers) {
                Err(ClientError::ResultLost) => self.stats.resends += 1,
                other => return other,
            }
        }
        Err(ClientError::GaveUp {
            what: "running the plan".into(),
            tries,
            last: "the result was lost on the line every time".into(),
        })
    }

    /// Where the stored plan's run stands: its progress, or once it has finished (until the
    /// next input), its result again.
    pub fn status(&mut self) -> Result<RunStatus, ClientError> {
        self.request(
            "status",
            &HostMsg::Status,
            self.opts.reply_timeout,
            |m| match m {
                DeviceMsg::Progress {
                    layer,
                    tile,
                    power_cycles,
                } => Verdict::Done(RunStatus::Progress(Progress {
                    layer,
                    tile,
                    power_cycles,
                })),
                DeviceMsg::Result(r) => Verdict::Done(RunStatus::Finished(r)),
                DeviceMsg::Error { code, detail } if frame_trouble(code) => {
                    Verdict::Resend(describe_error(code, detail))
                }
                DeviceMsg::Error { code, detail } => Verdict::Fail(ClientError::Device {
                    what: "status".into(),
                    code,
                    detail,
                }),
                _ => Verdict::Ignore,
            },
        )
    }

    /// Runs a microbenchmark: `reps` repetitions of `kind` on `n` words; returns the device's
    /// cycle count for all of them.
    pub fn bench(&mut self, kind: BenchKind, n: u16, reps: u16) -> Result<u64, ClientError> {
        let what = format!("benchmark {kind:?} n={n} x{reps}");
        self.request(
            &what,
            &HostMsg::Bench { kind, n, reps },
            self.opts.run_timeout.min(self.opts.reply_timeout * 10),
            |m| match m {
                DeviceMsg::BenchResult {
                    kind: k,
                    n: got_n,
                    reps: r,
                    cycles,
                } if k == kind && got_n == n && r == reps => Verdict::Done(cycles.get()),
                DeviceMsg::Error { code, detail } if frame_trouble(code) => {
                    Verdict::Resend(describe_error(code, detail))
                }
                DeviceMsg::Error { code, detail } => Verdict::Fail(ClientError::Device {
                    what: what.clone(),
                    code,
                    detail,
                }),
                _ => Verdict::Ignore,
            },
        )
    }
}

/// Checks a plan against what a device offers, naming the numbers when it does not fit.
pub fn check_fit(caps: &Capabilities, plan: &Plan<'_>, len: usize) -> Result<(), ClientError> {
    if len as u64 > u64::from(caps.max_plan_bytes) {
        return Err(ClientError::DoesNotFit(format!(
            "the plan is {len} B, the device stores at most {} B",
            caps.max_plan_bytes
        )));
    }
    let limits = Limits {
        vm_bytes: caps.vm_bytes,
        nvm_bytes: caps.nvm_bytes,
    };
    plan::validate(plan, &limits).map_err(|e| {
        ClientError::DoesNotFit(format!(
            "{e} (device: {} B VM, {} B NVM per plan)",
            caps.vm_bytes, caps.nvm_bytes
        ))
    })?;
    Ok(())
}

/// The device name from its capabilities, without the zero padding.
pub fn device_name(caps: &Capabilities) -> String {
    let end = caps
        .device
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(caps.device.len());
    String::from_utf8_lossy(&caps.device[..end]).into_owned()
}

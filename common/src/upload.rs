//! The device side of a plan upload, sans-IO: in-order chunks in, acknowledgements out, and at
//! commit a validated plan whose tensors are already in NVM.
//!
//! A device never holds a whole plan in addressable memory (on the MSP430 the tensors go to
//! FRAM above 64 KB). The receiver keeps only the preamble and metadata (bounded by
//! [`META_MAX_LEN`]) and a running CRC, and streams the tensor section into NVM as 16-bit
//! words at a staging address the device chooses; a half-received or refused plan therefore
//! never touches the plan the device is running.

use crc::{Crc, Digest, CRC_32_ISO_HDLC};

use crate::engine::{Block, Nvm};
use crate::plan::{
    validate_meta_bytes, Limits, PlanError, Preamble, ValidPlan, META_MAX_LEN, PREAMBLE_LEN,
};
use crate::session::HeadKey;

static CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

/// Why an upload step was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadError {
    /// A chunk or commit without a `begin`.
    NotStarted,
    /// A chunk that does not continue where the last one ended: resend from `next`.
    Sequence { next: u32 },
    /// Data past the announced length.
    Overrun,
    /// The plan is larger than the device stores.
    TooLarge { len: u32, max: u32 },
    /// Commit before every byte arrived.
    Incomplete { received: u32, len: u32 },
    /// The bytes do not match the CRC announced at `begin`.
    Crc,
    /// The plan itself is refused (container or contents).
    Plan(PlanError),
}

impl From<PlanError> for UploadError {
    fn from(e: PlanError) -> Self {
        UploadError::Plan(e)
    }
}

/// Bytes of a plan head: the preamble and the largest metadata.
const HEAD_LEN: usize = PREAMBLE_LEN + META_MAX_LEN;

/// Where an upload stands after a chunk, for a device to keep in NVM: with the bytes stored
/// so far (tensors at their staging words, the head at its head words) it is all a receiver
/// needs to continue after a reset ([`PlanReceiver::resume`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resume {
    pub len: u32,
    pub crc: u32,
    pub next: u32,
    /// The CRC-32 of the bytes before `next` that the plan's CRC covers.
    pub sum: u32,
    /// The low byte of a tensor word whose high byte is at `next`.
    pub pending: Option<u8>,
}

/// A digest that goes on from `sum`, the finished CRC of the bytes so far. The algorithm
/// reflects its input, so the register holds `sum ^ xorout` reflected, which
/// `digest_with_initial` reflects back.
fn digest_from(sum: u32) -> Digest<'static, u32> {
    CRC32.digest_with_initial((sum ^ CRC_32_ISO_HDLC.xorout).reverse_bits())
}

/// Receives one plan at a time.
pub struct PlanReceiver {
    /// Preamble and metadata bytes of the upload (the first `PREAMBLE_LEN + meta_len`); also
    /// the buffer [`PlanReceiver::load_head`] reads a stored head into. Outside `state` so that
    /// starting an upload builds nothing large on a small device's stack.
    head: [u8; HEAD_LEN],
    state: Option<Receiving>,
}

struct Receiving {
    len: u32,
    crc: u32,
    next: u32,
    digest: Digest<'static, u32>,
    preamble: Option<Preamble>,
    /// The low byte of a tensor word whose high byte has not arrived yet.
    pending: Option<u8>,
    /// NVM word address of tensor value 0.
    staging: u32,
    /// The tensors end at this NVM word instead: `staging` is set from the preamble's lengths.
    below: Option<u32>,
}

impl Default for PlanReceiver {
    fn default() -> Self {
        Self::new()
    }
}

impl PlanReceiver {
    pub const fn new() -> Self {
        PlanReceiver {
            head: [0; HEAD_LEN],
            state: None,
        }
    }

    /// Starts an upload of `len` bytes whose CRC-32 (as in the plan's preamble) is `crc`;
    /// tensors will be written from NVM word `staging` on. Abandons any upload in progress.
    pub fn begin(
        &mut self,
        len: u32,
        crc: u32,
        max_len: u32,
        staging: u32,
    ) -> Result<(), UploadError> {
        self.start(len, crc, max_len, staging, None)
    }

    /// [`PlanReceiver::begin`] for tensors that end just below NVM word `end` (where they start
    /// is known once the preamble has arrived): a slot that fills downwards.
    pub fn begin_below(
        &mut self,
        len: u32,
        crc: u32,
        max_len: u32,
        end: u32,
    ) -> Result<(), UploadError> {
        self.start(len, crc, max_len, end, Some(end))
    }

    fn start(
        &mut self,
        len: u32,
        crc: u32,
        max_len: u32,
        staging: u32,
        below: Option<u32>,
    ) -> Result<(), UploadError> {
        self.state = None;
        if len > max_len {
            return Err(UploadError::TooLarge { len, max: max_len });
        }
        // Lengths stay u32: on the MSP430 a usize is 16 bits, and plans pass 64 KB.
        if len < PREAMBLE_LEN as u32 {
            return Err(UploadError::Plan(PlanError::Truncated {
                need: PREAMBLE_LEN as u32,
                got: len,
            }));
        }
        self.state = Some(Receiving {
            len,
            crc,
            next: 0,
            digest: CRC32.digest(),
            preamble: None,
            pending: None,
            staging,
            below,
        });
        Ok(())
    }

    /// Ends any upload in progress.
    pub fn abandon(&mut self) {
        self.state = None;
    }

    /// Where the upload in progress stands (after the last chunk taken).
    pub fn progress(&self) -> Option<Resume> {
        self.state.as_ref().map(|r| Resume {
            len: r.len,
            crc: r.crc,
            next: r.next,
            sum: r.digest.clone().finalize(),
            pending: r.pending,
        })
    }

    /// Goes on with an upload from `point` (what [`PlanReceiver::progress`] said before a
    /// reset), its head bytes read back from NVM word `head_at` (where
    /// [`PlanReceiver::store_head`] put them) and its tensors written from `staging` on (with
    /// `below`, ending below that word instead, as [`PlanReceiver::begin_below`]).
    /// Returns false, with no upload in progress, when the stored head does not hold a
    /// preamble that point needs.
    pub fn resume<N: Nvm>(
        &mut self,
        nvm: &mut N,
        point: &Resume,
        head_at: u32,
        staging: u32,
        below: Option<u32>,
    ) -> Result<bool, N::Error> {
        self.state = None;
        let upto = point.next.min(HEAD_LEN as u32) as usize;
        self.read_head(nvm, head_at, upto)?;
        let preamble = if upto >= PREAMBLE_LEN {
            match Preamble::read(&self.head[..PREAMBLE_LEN]) {
                Ok(p) if p.total_len == point.len && p.crc32 == point.crc => Some(p),
                _ => return Ok(false),
            }
        } else {
            None
        };
        let staging = match (below, preamble) {
            (Some(end), Some(p)) => end.saturating_sub(tensor_words(&p)),
            (Some(end), None) => end,
            (None, _) => staging,
        };
        self.state = Some(Receiving {
            len: point.len,
            crc: point.crc,
            next: point.next,
            digest: digest_from(point.sum),
            preamble,
            pending: point.pending,
            staging,
            below,
        });
        Ok(true)
    }

    /// Stores the head bytes in `from..to` of the upload (those of the last chunk) at NVM word
    /// `head_at` on, so that [`PlanReceiver::resume`] finds them after a reset.
    pub fn store_head<N: Nvm>(
        &self,
        nvm: &mut N,
        head_at: u32,
        from: u32,
        to: u32,
    ) -> Result<(), N::Error> {
        let to = to.min(HEAD_LEN as u32);
        if from >= to {
            return Ok(());
        }
        // Whole words: a chunk may start or end inside one.
        let (w0, w1) = (from / 2, to.div_ceil(2));
        let mut buf = [0i16; HEAD_IO_WORDS];
        let mut w = w0;
        while w < w1 {
            let n = (w1 - w).min(HEAD_IO_WORDS as u32);
            for (k, v) in buf[..n as usize].iter_mut().enumerate() {
                let at = 2 * (w as usize + k);
                *v = i16::from_le_bytes([
                    self.head[at],
                    self.head.get(at + 1).copied().unwrap_or(0),
                ]);
            }
            nvm.write(Block::Weights, head_at + w, &buf[..n as usize])?;
            w += n;
        }
        Ok(())
    }

    /// Takes the bytes at `offset`; returns the next offset expected. Chunks must arrive in
    /// order: a repeated or skipped offset is refused with the offset to resend from.
    /// Any refusal but [`UploadError::Sequence`] abandons the upload.
    pub fn chunk<N: Nvm>(
        &mut self,
        nvm: &mut N,
        offset: u32,
        data: &[u8],
    ) -> Result<u32, ChunkError<N::Error>> {
        let result = self.take_chunk(nvm, offset, data);
        if matches!(result, Err(ChunkError::Upload(e)) if !matches!(e, UploadError::Sequence { .. }))
            || matches!(result, Err(ChunkError::Device(_)))
        {
            self.state = None;
        }
        result
    }

    fn take_chunk<N: Nvm>(
        &mut self,
        nvm: &mut N,
        offset: u32,
        data: &[u8],
    ) -> Result<u32, ChunkError<N::Error>> {
        let head = &mut self.head;
        let r = self
            .state
            .as_mut()
            .ok_or(ChunkError::Upload(UploadError::NotStarted))?;
        if offset != r.next {
            return Err(ChunkError::Upload(UploadError::Sequence { next: r.next }));
        }
        let end = u32::try_from(data.len())
            .ok()
            .and_then(|n| offset.checked_add(n));
        if end.is_none_or(|end| end > r.len) {
            return Err(ChunkError::Upload(UploadError::Overrun));
        }
        // Byte positions are u32 throughout: a 16-bit usize (the MSP430's) would wrap at 64 KB
        // and write the plan's tail over its head.
        for (at, &b) in (offset..).zip(data) {
            // The CRC covers everything but its own field (bytes 16..20).
            if !(16..PREAMBLE_LEN as u32).contains(&at) {
                r.digest.update(&[b]);
            }
            if at < HEAD_LEN as u32 {
                head[at as usize] = b;
            }
            if at + 1 == PREAMBLE_LEN as u32 {
                let p = Preamble::read(&head[..PREAMBLE_LEN])
                    .map_err(|e| ChunkError::Upload(e.into()))?;
                if p.total_len != r.len {
                    return Err(ChunkError::Upload(UploadError::Plan(PlanError::Lengths {
                        total: p.total_len,
                        meta: p.meta_len,
                    })));
                }
                if let Some(end) = r.below {
                    r.staging = end.saturating_sub(tensor_words(&p));
                }
                r.preamble = Some(p);
            }
            if let Some(p) = r.preamble {
                let tensors_at = PREAMBLE_LEN as u32 + p.meta_len;
                if at >= tensors_at {
                    match r.pending.take() {
                        None => r.pending = Some(b),
                        Some(lo) => {
                            let word = (at - tensors_at) / 2;
                            let v = i16::from_le_bytes([lo, b]);
                            nvm.write(Block::Weights, r.staging + word, &[v])
                                .map_err(ChunkError::Device)?;
                        }
                    }
                }
            }
        }
        r.next = offset + data.len() as u32;
        Ok(r.next)
    }

    /// Checks the CRC, decodes and validates the metadata. The upload ends either way.
    pub fn commit(&mut self, limits: &Limits) -> Result<ValidPlan, UploadError> {
        let mut place = None;
        self.commit_to(limits, &mut place)?;
        place.ok_or(UploadError::NotStarted)
    }

    /// [`PlanReceiver::commit`] into `place` (left `None` on refusal): a device keeps its
    /// plans in statics rather than moving half a kilobyte through its stack.
    pub fn commit_to(
        &mut self,
        limits: &Limits,
        place: &mut Option<ValidPlan>,
    ) -> Result<(), UploadError> {
        *place = None;
        let r = self.state.take().ok_or(UploadError::NotStarted)?;
        if r.next != r.len {
            return Err(UploadError::Incomplete {
                received: r.next,
                len: r.len,
            });
        }
        if r.digest.finalize() != r.crc {
            return Err(UploadError::Crc);
        }
        let p = r.preamble.ok_or(UploadError::Plan(PlanError::Magic))?;
        if p.crc32 != r.crc {
            return Err(UploadError::Crc);
        }
        decode_into(&self.head, &p, limits, place)
    }

    /// [`PlanReceiver::commit_to`], and on success also stores the preamble and metadata (the
    /// plan's head, [`HEAD_WORDS`] words, little-endian byte pairs) at NVM word `head_at`, so a
    /// device that reboots can re-validate its plan with [`PlanReceiver::load_head`]. The upload
    /// ends either way.
    ///
    /// Returns the stored head's key (what [`PlanReceiver::stored_key`] reads back).
    pub fn commit_into<N: Nvm>(
        &mut self,
        nvm: &mut N,
        head_at: u32,
        limits: &Limits,
        place: &mut Option<ValidPlan>,
    ) -> Result<HeadKey, ChunkError<N::Error>> {
        let key = self.state.as_ref().map(|r| HeadKey {
            crc32: r.crc,
            len: r.len,
        });
        self.commit_to(limits, place).map_err(ChunkError::Upload)?;
        let mut buf = [0i16; HEAD_IO_WORDS];
        for (i, bytes) in self.head.chunks(2 * HEAD_IO_WORDS).enumerate() {
            let n = bytes.len().div_ceil(2);
            for (w, pair) in buf.iter_mut().zip(bytes.chunks(2)) {
                *w = i16::from_le_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]);
            }
            let at = head_at + (i * HEAD_IO_WORDS) as u32;
            nvm.write(Block::Weights, at, &buf[..n])
                .map_err(ChunkError::Device)?;
        }
        // commit_to succeeded, so an upload was in progress.
        Ok(key.unwrap_or_default())
    }

    /// The key of the head stored at `head_at` (its preamble's CRC and length), if the preamble
    /// is one this device reads.
    pub fn stored_key<N: Nvm>(nvm: &mut N, head_at: u32) -> Result<Option<HeadKey>, N::Error> {
        let mut w = [0i16; PREAMBLE_LEN / 2];
        nvm.read(Block::Weights, head_at, &mut w)?;
        let mut bytes = [0u8; PREAMBLE_LEN];
        for (pair, v) in bytes.chunks_exact_mut(2).zip(w) {
            pair.copy_from_slice(&v.to_le_bytes());
        }
        Ok(Preamble::read(&bytes).ok().map(|p| HeadKey {
            crc32: p.crc32,
            len: p.total_len,
        }))
    }

    /// Re-validates a plan from a head stored by [`PlanReceiver::commit_into`] into `place`:
    /// the preamble's lengths and the metadata are checked again, so a damaged head is refused,
    /// never trusted. (The CRC covered the whole plan at upload; it is not recomputed from NVM
    /// here.) Abandons any upload in progress.
    pub fn load_head<N: Nvm>(
        &mut self,
        nvm: &mut N,
        head_at: u32,
        limits: &Limits,
        place: &mut Option<ValidPlan>,
    ) -> Result<(), ChunkError<N::Error>> {
        *place = None;
        self.state = None;
        self.read_head(nvm, head_at, HEAD_LEN)
            .map_err(ChunkError::Device)?;
        let p =
            Preamble::read(&self.head[..PREAMBLE_LEN]).map_err(|e| ChunkError::Upload(e.into()))?;
        decode_into(&self.head, &p, limits, place).map_err(ChunkError::Upload)
    }
}

impl PlanReceiver {
    /// Reads the first `upto` bytes of a head stored from NVM word `head_at` into `head`.
    #[inline(never)]
    fn read_head<N: Nvm>(
        &mut self,
        nvm: &mut N,
        head_at: u32,
        upto: usize,
    ) -> Result<(), N::Error> {
        let mut buf = [0i16; HEAD_IO_WORDS];
        for (i, bytes) in self.head[..upto].chunks_mut(2 * HEAD_IO_WORDS).enumerate() {
            let n = bytes.len().div_ceil(2);
            nvm.read(
                Block::Weights,
                head_at + (i * HEAD_IO_WORDS) as u32,
                &mut buf[..n],
            )?;
            for (pair, w) in bytes.chunks_mut(2).zip(buf) {
                let [lo, hi] = w.to_le_bytes();
                pair[0] = lo;
                if let Some(b) = pair.get_mut(1) {
                    *b = hi;
                }
            }
        }
        Ok(())
    }
}

/// Words of the tensor section a preamble announces ([`Preamble::read`] checked that the
/// metadata fits the total).
fn tensor_words(p: &Preamble) -> u32 {
    (p.total_len - PREAMBLE_LEN as u32 - p.meta_len) / 2
}

/// Words a stored plan head (preamble and the largest metadata) takes in NVM.
pub const HEAD_WORDS: u32 = HEAD_LEN.div_ceil(2) as u32;

/// Words moved per NVM access when a head is stored or read back (a stack buffer's worth: on
/// the MSP430 each access is a DMA set-up, so one per word made a boot take tens of ms).
const HEAD_IO_WORDS: usize = 32;

/// Decodes the metadata of `head` and validates it against the tensor section the preamble
/// announces, into `place`. Not inlined: the decoder's temporaries are large for a small stack
/// and should not add to any caller's frame.
#[inline(never)]
fn decode_into(
    head: &[u8; HEAD_LEN],
    p: &Preamble,
    limits: &Limits,
    place: &mut Option<ValidPlan>,
) -> Result<(), UploadError> {
    let lengths = UploadError::Plan(PlanError::Lengths {
        total: p.total_len,
        meta: p.meta_len,
    });
    let meta_end = PREAMBLE_LEN
        .checked_add(p.meta_len as usize)
        .filter(|&end| end <= head.len())
        .ok_or(lengths)?;
    match p.total_len.checked_sub(meta_end as u32) {
        Some(t) if t.is_multiple_of(2) => Ok(validate_meta_bytes(
            &head[PREAMBLE_LEN..meta_end],
            t / 2,
            limits,
            place,
        )?),
        _ => Err(lengths),
    }
}

/// A chunk was refused, or the NVM failed while storing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkError<E> {
    Upload(UploadError),
    Device(E),
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::plan::tests::{bytes_of, small_meta};
    use crate::plan::{validate, Plan};
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    struct Words(Vec<i16>);

    impl Nvm for Words {
        type Error = ();
        fn read(&mut self, _: Block, addr: u32, buf: &mut [i16]) -> Result<(), ()> {
            let a = addr as usize;
            buf.copy_from_slice(self.0.get(a..a + buf.len()).ok_or(())?);
            Ok(())
        }
        fn write(&mut self, _: Block, addr: u32, data: &[i16]) -> Result<(), ()> {
            let a = addr as usize;
            self.0
                .get_mut(a..a + data.len())
                .ok_or(())?
                .copy_from_slice(data);
            Ok(())
        }
    }

    const LIMITS: Limits = Limits {
        vm_bytes: 2048,
        nvm_bytes: 100_000,
    };
    const STAGING: u32 = 100;

    fn crc_of(bytes: &[u8]) -> u32 {
        u32::from_le_bytes([bytes[16], bytes[17], bytes[18], bytes[19]])
    }

    /// Uploads `bytes` in chunks of the given sizes (cycled).
    fn upload(bytes: &[u8], sizes: &[usize], nvm: &mut Words) -> Result<ValidPlan, UploadError> {
        let mut rx = PlanReceiver::new();
        rx.begin(bytes.len() as u32, crc_of(bytes), 64 * 1024, STAGING)?;
        let mut at = 0;
        for &n in sizes.iter().cycle() {
            if at == bytes.len() {
                break;
            }
            let end = (at + n.max(1)).min(bytes.len());
            let next = rx
                .chunk(nvm, at as u32, &bytes[at..end])
                .map_err(|e| match e {
                    ChunkError::Upload(u) => u,
                    ChunkError::Device(()) => UploadError::Overrun,
                })?;
            assert_eq!(next as usize, end);
            at = end;
        }
        rx.commit(&LIMITS)
    }

    proptest! {
        /// Any chunking gives the same validated plan as decoding the whole bytes, and leaves
        /// exactly the tensor section in NVM at the staging address.
        #[test]
        fn any_chunking_gives_the_plan_and_its_tensors(sizes in prop::collection::vec(1usize..200, 1..8)) {
            let (meta, tensors) = small_meta();
            let bytes = bytes_of(&meta, &tensors);
            let mut nvm = Words(vec![0; 1000]);
            let got = upload(&bytes, &sizes, &mut nvm).unwrap();
            let want = validate(&Plan::decode(&bytes).unwrap(), &LIMITS).unwrap();
            prop_assert_eq!(&got, &want);
            let staged = &nvm.0[STAGING as usize..STAGING as usize + tensors.len()];
            prop_assert_eq!(staged, &tensors[..]);
        }

        /// An upload that a reset cuts after any chunk goes on from the point and the head
        /// it stored, in a receiver that knows nothing else, and gives the same plan.
        #[test]
        fn an_upload_resumes_after_any_chunk(sizes in prop::collection::vec(1usize..200, 1..8), cut in any::<prop::sample::Index>()) {
            const HEAD_AT: u32 = 600;
            let (meta, tensors) = small_meta();
            let bytes = bytes_of(&meta, &tensors);
            let mut nvm = Words(vec![0; 1400]);
            let mut rx = PlanReceiver::new();
            rx.begin(bytes.len() as u32, crc_of(&bytes), 64 * 1024, STAGING).unwrap();
            let mut ends = vec![];
            let mut at = 0;
            for &n in sizes.iter().cycle() {
                if at == bytes.len() { break; }
                at = (at + n).min(bytes.len());
                ends.push(at);
            }
            let cut_after = cut.index(ends.len());
            let mut from = 0;
            let mut point = None;
            for &end in &ends[..=cut_after] {
                rx.chunk(&mut nvm, from as u32, &bytes[from..end]).unwrap();
                rx.store_head(&mut nvm, HEAD_AT, from as u32, end as u32).unwrap();
                point = rx.progress();
                from = end;
            }
            let point = point.unwrap();
            prop_assert_eq!(point.next as usize, from);
            let mut fresh = PlanReceiver::new();
            prop_assert!(fresh.resume(&mut nvm, &point, HEAD_AT, STAGING, None).unwrap());
            prop_assert_eq!(fresh.progress(), Some(point));
            if from < bytes.len() {
                prop_assert_eq!(fresh.chunk(&mut nvm, from as u32, &bytes[from..]), Ok(bytes.len() as u32));
            }
            let got = fresh.commit(&LIMITS).unwrap();
            prop_assert_eq!(got, validate(&Plan::decode(&bytes).unwrap(), &LIMITS).unwrap());
            let staged = &nvm.0[STAGING as usize..STAGING as usize + tensors.len()];
            prop_assert_eq!(staged, &tensors[..]);
        }

        /// Corrupting any byte is caught at the latest by commit; nothing panics.
        #[test]
        fn any_corruption_is_refused(at in any::<prop::sample::Index>(), flip in 1u8..=255) {
            let (meta, tensors) = small_meta();
            let mut bytes = bytes_of(&meta, &tensors);
            let crc = crc_of(&bytes);
            let i = at.index(bytes.len());
            bytes[i] ^= flip;
            let mut rx = PlanReceiver::new();
            rx.begin(bytes.len() as u32, crc, 64 * 1024, STAGING).unwrap();
            let mut nvm = Words(vec![0; 1000]);
            let refused = rx.chunk(&mut nvm, 0, &bytes).is_err() || rx.commit(&LIMITS).is_err();
            prop_assert!(refused, "a flipped byte at {i} was accepted");
        }
    }

    #[test]
    fn out_of_order_chunks_ask_for_a_resend_and_the_upload_goes_on() {
        let (meta, tensors) = small_meta();
        let bytes = bytes_of(&meta, &tensors);
        let mut nvm = Words(vec![0; 1000]);
        let mut rx = PlanReceiver::new();
        rx.begin(bytes.len() as u32, crc_of(&bytes), 4096, STAGING)
            .unwrap();
        assert_eq!(rx.chunk(&mut nvm, 0, &bytes[..50]), Ok(50));
        assert_eq!(
            rx.chunk(&mut nvm, 0, &bytes[..50]),
            Err(ChunkError::Upload(UploadError::Sequence { next: 50 }))
        );
        assert_eq!(
            rx.chunk(&mut nvm, 80, &bytes[80..90]),
            Err(ChunkError::Upload(UploadError::Sequence { next: 50 }))
        );
        assert_eq!(rx.chunk(&mut nvm, 50, &bytes[50..]), Ok(bytes.len() as u32));
        assert!(rx.commit(&LIMITS).is_ok());
        assert_eq!(rx.commit(&LIMITS), Err(UploadError::NotStarted));
    }

    #[test]
    fn refusals_are_typed() {
        let (meta, tensors) = small_meta();
        let bytes = bytes_of(&meta, &tensors);
        let mut nvm = Words(vec![0; 1000]);
        let mut rx = PlanReceiver::new();
        assert_eq!(
            rx.begin(5000, 0, 4096, 0),
            Err(UploadError::TooLarge {
                len: 5000,
                max: 4096
            })
        );
        assert_eq!(
            rx.chunk(&mut nvm, 0, &bytes),
            Err(ChunkError::Upload(UploadError::NotStarted))
        );
        rx.begin(bytes.len() as u32, crc_of(&bytes), 4096, STAGING)
            .unwrap();
        rx.chunk(&mut nvm, 0, &bytes[..30]).unwrap();
        assert_eq!(
            rx.commit(&LIMITS),
            Err(UploadError::Incomplete {
                received: 30,
                len: bytes.len() as u32
            })
        );
        rx.begin(bytes.len() as u32, crc_of(&bytes) ^ 1, 4096, STAGING)
            .unwrap();
        rx.chunk(&mut nvm, 0, &bytes).unwrap();
        assert_eq!(rx.commit(&LIMITS), Err(UploadError::Crc));
        let mut newer = bytes.clone();
        newer[4] = 3;
        rx.begin(newer.len() as u32, crc_of(&newer), 4096, STAGING)
            .unwrap();
        assert_eq!(
            rx.chunk(&mut nvm, 0, &newer),
            Err(ChunkError::Upload(UploadError::Plan(PlanError::Version {
                found: 3,
                supported: 2
            })))
        );
        // A refused chunk ends the upload.
        assert_eq!(
            rx.chunk(&mut nvm, 0, &bytes),
            Err(ChunkError::Upload(UploadError::NotStarted))
        );
        // Valid container, contents too big for the device: refused at commit by validation.
        rx.begin(bytes.len() as u32, crc_of(&bytes), 4096, STAGING)
            .unwrap();
        rx.chunk(&mut nvm, 0, &bytes).unwrap();
        let tiny = Limits {
            vm_bytes: 64,
            nvm_bytes: 100_000,
        };
        assert!(matches!(
            rx.commit(&tiny),
            Err(UploadError::Plan(PlanError::Layer { index: 0, .. }))
        ));
    }
}

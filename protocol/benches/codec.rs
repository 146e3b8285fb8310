//! Criterion benchmarks of the `hush/1` codec: what the relay pays per frame.
//!
//! Run: `cargo bench -p hush-protocol --bench codec -- --warm-up-time 1 --measurement-time 3`
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hush_protocol::codec::{LENGTH_PREFIX_LEN, body_len, decode_body, encode_frame};
use hush_protocol::{ClientFrame, Delivery, Envelope, EnvelopeId, MailboxId, RelayFrame};

fn send(size: usize, recipients: usize) -> ClientFrame {
    ClientFrame::Send(Envelope {
        id: EnvelopeId::from_bytes([7; 16]),
        recipients: (0..recipients)
            .map(|i| MailboxId::from_bytes([i as u8; 16]))
            .collect(),
        ttl_secs: 0,
        ephemeral: false,
        payload: vec![0xa5; size],
    })
}

fn deliver(size: usize) -> RelayFrame {
    RelayFrame::Deliver(Delivery {
        id: EnvelopeId::from_bytes([7; 16]),
        stored_at: 1_700_000_000,
        payload: vec![0xa5; size],
    })
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> T {
    let prefix: [u8; LENGTH_PREFIX_LEN] = bytes[..LENGTH_PREFIX_LEN].try_into().unwrap();
    let len = body_len(prefix).unwrap();
    decode_body(&bytes[LENGTH_PREFIX_LEN..LENGTH_PREFIX_LEN + len]).unwrap()
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("send frame (1 recipient)");
    for size in [256usize, 4096, 65536] {
        let frame = send(size, 1);
        let bytes = encode_frame(&frame).unwrap();
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::new("encode", size), &frame, |b, frame| {
            b.iter(|| encode_frame(black_box(frame)).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("decode", size), &bytes, |b, bytes| {
            b.iter(|| decode::<ClientFrame>(black_box(bytes)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("send frame (100 recipients, 256 B)");
    let frame = send(256, 100);
    let bytes = encode_frame(&frame).unwrap();
    group.bench_function("encode", |b| {
        b.iter(|| encode_frame(black_box(&frame)).unwrap())
    });
    group.bench_function("decode", |b| {
        b.iter(|| decode::<ClientFrame>(black_box(&bytes)))
    });
    group.finish();

    let mut group = c.benchmark_group("deliver frame");
    for size in [256usize, 65536] {
        let frame = deliver(size);
        let bytes = encode_frame(&frame).unwrap();
        group.bench_with_input(BenchmarkId::new("encode", size), &frame, |b, frame| {
            b.iter(|| encode_frame(black_box(frame)).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("decode", size), &bytes, |b, bytes| {
            b.iter(|| decode::<RelayFrame>(black_box(bytes)))
        });
    }
    group.finish();

    let ack = ClientFrame::Ack {
        ids: (0..512)
            .map(|i| EnvelopeId::from_bytes([i as u8; 16]))
            .collect(),
    };
    let bytes = encode_frame(&ack).unwrap();
    c.bench_function("ack frame (512 ids) decode", |b| {
        b.iter(|| decode::<ClientFrame>(black_box(&bytes)))
    });
}

criterion_group!(benches, codec);
criterion_main!(benches);

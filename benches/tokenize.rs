//! Micro-benchmarks of the hot functions, with the bare SHA-256 compression
//! function as the yardstick for the tokenizer (issue 4: tokens per second
//! within 1.5x of what two compressions per short value allow).
//!
//! `cargo bench --bench tokenize`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use txanon::key::MasterKey;
use txanon::schema::TokenEncoding;
use txanon::transform::normalize::{normalize, Kind};
use txanon::transform::tokenize::Tokenizer;

fn hashing(c: &mut Criterion) {
    let mut g = c.benchmark_group("hash");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sha256_compress_2_blocks", |b| {
        let mut state = [0u32; 8];
        let blocks = [[0x5au8; 64]; 2];
        b.iter(|| {
            sha2::block_api::compress256(&mut state, black_box(&blocks));
            black_box(state[0])
        })
    });
    // The floor for one HMAC of a short value: two dependent single-block
    // compressions (the outer block holds the inner digest).
    g.bench_function("sha256_compress_1_block_twice_dependent", |b| {
        let mut block = [0x5au8; 64];
        b.iter(|| {
            let mut state = [0x6a09e667u32; 8];
            sha2::block_api::compress256(&mut state, &[black_box(block)]);
            block[0] = state[0] as u8;
            let mut outer = [0xbb67ae85u32; 8];
            sha2::block_api::compress256(&mut outer, &[block]);
            black_box(outer[0])
        })
    });
    let key = MasterKey::from_hex(&"0b".repeat(32)).unwrap();
    let tok = Tokenizer::new(&key, "", "phone", 128, TokenEncoding::Hex);
    g.bench_function("token_into_e164_phone", |b| {
        let mut out = String::with_capacity(32);
        b.iter(|| {
            out.clear();
            tok.token_into(black_box("+8613800138000"), &mut out);
            black_box(out.len())
        })
    });
    g.finish();
}

fn normalizing(c: &mut Criterion) {
    let mut g = c.benchmark_group("normalize");
    g.throughput(Throughput::Elements(1));
    let cn = Kind::Phone {
        region: txanon::transform::normalize::known_phone_region("CN"),
    };
    for (name, kind, value) in [
        ("phone_national", cn, "138 0013 8000"),
        ("phone_international", cn, "+86 138-0013-8000"),
        ("email", Kind::Email, " Li.Wei@163.COM "),
        (
            "address_cjk",
            Kind::Address,
            "浙江省 杭州市 西湖区 文三路 123 号",
        ),
        (
            "address_western",
            Kind::Address,
            "123  Main St. ,  Springfield, IL 62704",
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| black_box(normalize(&kind, black_box(value))))
        });
    }
    g.finish();
}

criterion_group!(benches, hashing, normalizing);
criterion_main!(benches);

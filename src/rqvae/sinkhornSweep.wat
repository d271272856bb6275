;; The Sinkhorn row step fused with the column sums (src/rqvae/sinkhornScaling.ts,
;; rowStepWithColumnSums), in WebAssembly SIMD: float64 pairs instead of one value at a time.
;;
;; Bit for bit the JS loop: every sum keeps its order. Row sums put two ROWS in the lanes of a
;; vector (never two terms of one row, which would reorder its additions); column sums put two
;; adjacent COLUMNS in the lanes and add the rows one after another. Wasm has no fused multiply-add
;; in this instruction set, so each term is a multiply then an add, rounded as JS rounds them.
;;
;; Built into sinkhornSweep.wasm by `node --import tsx scripts/build-wasm.ts`; a unit test checks
;; that the committed binary is this text's.
(module
  (memory (export "memory") 1)

  ;; For each block of 8 rows b..b+7 (blocks of them, starting at row 0):
  ;;   u[r] = rowTarget / sum_k kernel[r,k] v[k]
  ;;   colSums[k] += kernel[b,k] u[b] + ... + kernel[b+7,k] u[b+7]   (left to right)
  ;; colSums is zeroed first. cols must be even; all addresses are byte offsets, 16-byte aligned.
  (func (export "rowStepWithColumnSums")
    (param $kernel i32) (param $v i32) (param $u i32) (param $colSums i32)
    (param $blocks i32) (param $cols i32) (param $rowTarget f64)
    (local $rowBytes i32) (local $block i32) (local $kb i32)
    (local $r0 i32) (local $r1 i32) (local $r2 i32) (local $r3 i32)
    (local $r4 i32) (local $r5 i32) (local $r6 i32) (local $r7 i32)
    (local $s01 v128) (local $s23 v128) (local $s45 v128) (local $s67 v128)
    (local $vk v128) (local $v0 v128) (local $v1 v128) (local $a v128) (local $c v128)
    (local $u0 v128) (local $u1 v128) (local $u2 v128) (local $u3 v128)
    (local $u4 v128) (local $u5 v128) (local $u6 v128) (local $u7 v128)
    (local $target v128) (local $acc v128) (local $uAt i32)

    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 3)))
    (memory.fill (local.get $colSums) (i32.const 0) (local.get $rowBytes))
    (local.set $target (f64x2.splat (local.get $rowTarget)))
    (local.set $r0 (local.get $kernel))
    (local.set $uAt (local.get $u))

    (block $blocksDone
      (loop $blockLoop
        (br_if $blocksDone (i32.ge_u (local.get $block) (local.get $blocks)))
        (local.set $r1 (i32.add (local.get $r0) (local.get $rowBytes)))
        (local.set $r2 (i32.add (local.get $r1) (local.get $rowBytes)))
        (local.set $r3 (i32.add (local.get $r2) (local.get $rowBytes)))
        (local.set $r4 (i32.add (local.get $r3) (local.get $rowBytes)))
        (local.set $r5 (i32.add (local.get $r4) (local.get $rowBytes)))
        (local.set $r6 (i32.add (local.get $r5) (local.get $rowBytes)))
        (local.set $r7 (i32.add (local.get $r6) (local.get $rowBytes)))

        ;; Row sums: lanes (r0, r1), (r2, r3), (r4, r5), (r6, r7); terms k then k+1.
        (local.set $s01 (v128.const f64x2 0 0))
        (local.set $s23 (v128.const f64x2 0 0))
        (local.set $s45 (v128.const f64x2 0 0))
        (local.set $s67 (v128.const f64x2 0 0))
        (local.set $kb (i32.const 0))
        (block $rowDone
          (loop $rowLoop
            (br_if $rowDone (i32.ge_u (local.get $kb) (local.get $rowBytes)))
            (local.set $vk (v128.load (i32.add (local.get $v) (local.get $kb))))
            (local.set $v0 (i8x16.shuffle 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 (local.get $vk) (local.get $vk)))
            (local.set $v1 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vk) (local.get $vk)))

            (local.set $a (v128.load (i32.add (local.get $r0) (local.get $kb))))
            (local.set $c (v128.load (i32.add (local.get $r1) (local.get $kb))))
            (local.set $s01 (f64x2.add (local.get $s01) (f64x2.mul
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a) (local.get $c)) (local.get $v0))))
            (local.set $s01 (f64x2.add (local.get $s01) (f64x2.mul
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a) (local.get $c)) (local.get $v1))))

            (local.set $a (v128.load (i32.add (local.get $r2) (local.get $kb))))
            (local.set $c (v128.load (i32.add (local.get $r3) (local.get $kb))))
            (local.set $s23 (f64x2.add (local.get $s23) (f64x2.mul
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a) (local.get $c)) (local.get $v0))))
            (local.set $s23 (f64x2.add (local.get $s23) (f64x2.mul
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a) (local.get $c)) (local.get $v1))))

            (local.set $a (v128.load (i32.add (local.get $r4) (local.get $kb))))
            (local.set $c (v128.load (i32.add (local.get $r5) (local.get $kb))))
            (local.set $s45 (f64x2.add (local.get $s45) (f64x2.mul
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a) (local.get $c)) (local.get $v0))))
            (local.set $s45 (f64x2.add (local.get $s45) (f64x2.mul
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a) (local.get $c)) (local.get $v1))))

            (local.set $a (v128.load (i32.add (local.get $r6) (local.get $kb))))
            (local.set $c (v128.load (i32.add (local.get $r7) (local.get $kb))))
            (local.set $s67 (f64x2.add (local.get $s67) (f64x2.mul
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a) (local.get $c)) (local.get $v0))))
            (local.set $s67 (f64x2.add (local.get $s67) (f64x2.mul
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a) (local.get $c)) (local.get $v1))))

            (local.set $kb (i32.add (local.get $kb) (i32.const 16)))
            (br $rowLoop)))

        ;; u = rowTarget / row sums (IEEE division, as JS), stored, then splatted per row.
        (local.set $s01 (f64x2.div (local.get $target) (local.get $s01)))
        (local.set $s23 (f64x2.div (local.get $target) (local.get $s23)))
        (local.set $s45 (f64x2.div (local.get $target) (local.get $s45)))
        (local.set $s67 (f64x2.div (local.get $target) (local.get $s67)))
        (v128.store (local.get $uAt) (local.get $s01))
        (v128.store offset=16 (local.get $uAt) (local.get $s23))
        (v128.store offset=32 (local.get $uAt) (local.get $s45))
        (v128.store offset=48 (local.get $uAt) (local.get $s67))
        (local.set $u0 (i8x16.shuffle 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 (local.get $s01) (local.get $s01)))
        (local.set $u1 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $s01) (local.get $s01)))
        (local.set $u2 (i8x16.shuffle 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 (local.get $s23) (local.get $s23)))
        (local.set $u3 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $s23) (local.get $s23)))
        (local.set $u4 (i8x16.shuffle 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 (local.get $s45) (local.get $s45)))
        (local.set $u5 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $s45) (local.get $s45)))
        (local.set $u6 (i8x16.shuffle 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 (local.get $s67) (local.get $s67)))
        (local.set $u7 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $s67) (local.get $s67)))

        ;; Column sums: lanes (k, k+1); rows r0..r7 added left to right.
        (local.set $kb (i32.const 0))
        (block $colDone
          (loop $colLoop
            (br_if $colDone (i32.ge_u (local.get $kb) (local.get $rowBytes)))
            (local.set $acc (v128.load (i32.add (local.get $colSums) (local.get $kb))))
            (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul (v128.load (i32.add (local.get $r0) (local.get $kb))) (local.get $u0))))
            (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul (v128.load (i32.add (local.get $r1) (local.get $kb))) (local.get $u1))))
            (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul (v128.load (i32.add (local.get $r2) (local.get $kb))) (local.get $u2))))
            (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul (v128.load (i32.add (local.get $r3) (local.get $kb))) (local.get $u3))))
            (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul (v128.load (i32.add (local.get $r4) (local.get $kb))) (local.get $u4))))
            (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul (v128.load (i32.add (local.get $r5) (local.get $kb))) (local.get $u5))))
            (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul (v128.load (i32.add (local.get $r6) (local.get $kb))) (local.get $u6))))
            (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul (v128.load (i32.add (local.get $r7) (local.get $kb))) (local.get $u7))))
            (v128.store (i32.add (local.get $colSums) (local.get $kb)) (local.get $acc))
            (local.set $kb (i32.add (local.get $kb) (i32.const 16)))
            (br $colLoop)))

        (local.set $r0 (i32.add (local.get $r7) (local.get $rowBytes)))
        (local.set $uAt (i32.add (local.get $uAt) (i32.const 64)))
        (local.set $block (i32.add (local.get $block) (i32.const 1)))
        (br $blockLoop)))))

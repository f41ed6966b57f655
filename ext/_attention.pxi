# Rotary rotation, softmax rows and the tiled attention core.
# Included by kernels.pyx (one module: shared state, fused types and inlining across files).

# ---------------------------------------------------------------------------------------------
# Attention core
# ---------------------------------------------------------------------------------------------
cdef inline void _rotate_rows(real *dst, real *src, Py_ssize_t lds, int rows, int d, real *sin,
                              real *cos) noexcept nogil:
    """dst[r] = rotary(src[r]) with the sin/cos row r ([rows, d/2] contiguous); dst is [rows, d]."""
    cdef int r, i, half = d // 2
    cdef real e, o, sn, cs
    if real is float:
        rnp_rotate_rows_f32(dst, src, lds, rows, half, sin, cos)
        return
    for r in range(rows):
        for i in range(half):
            e = src[r * lds + 2 * i]
            o = src[r * lds + 2 * i + 1]
            sn = sin[r * half + i]
            cs = cos[r * half + i]
            dst[r * d + 2 * i] = e * cs - o * sn
            dst[r * d + 2 * i + 1] = o * cs + e * sn


cdef inline void _softmax_row(real *s, real *mask, int n, real scale, bint use_hm, real hm) noexcept nogil:
    cdef int j
    cdef real mx, tot
    if real is float:
        rnp_softmax_row_f32(s, mask, n, scale, use_hm, hm)
        return
    mx = -1.0 / 0.0
    for j in range(n):
        s[j] = s[j] / scale
        if mask != NULL:
            s[j] = s[j] + mask[j]
        if s[j] > mx:
            mx = s[j]
    tot = 0
    for j in range(n):
        s[j] = exp(s[j] - mx)
        tot = tot + s[j]
    for j in range(n):
        s[j] = s[j] / tot
        if use_hm:
            s[j] = s[j] * hm


cdef int _tile_elems = 262144


cdef inline int _attention_tile(int T, int S) noexcept nogil:
    """Query rows per attention task: as many as keep the [tile, S] scores within _tile_elems (L2), a
    multiple of 16 -- fewer, larger GEMMs repack k and v less often. Shape-only, so thread-invariant."""
    cdef int tile = (_tile_elems // max(S, 1)) // 16 * 16
    return max(16, min(tile, (T + 15) // 16 * 16))


cdef inline void _attend_tile(
    int tq, int S, int D, int C, real *qp, int ldq, real *kp, int ldk, real *kpanels, real *vp, int ldv,
    real *vpanels, real *sp, real *mrow, Py_ssize_t mt, real scale, bint use_hm, real hm, real *outp,
) noexcept nogil:
    """One query tile: outp[tq, D] (row stride C) = softmax(q k.T / scale + mask) * hm @ v, the scores
    in sp [tq, S]. Keys and values come packed (kpanels / vpanels: our float32 GEMM) or as rows."""
    cdef int i
    # one query of float32 on our kernels (a decoding step): dot products and a weighted row sum of our own,
    # not a BLAS GEMV per head (rnp_attn_q1_*; 0 where D is not a multiple of 8)
    cdef bint q1 = False
    if real is float:
        q1 = tq == 1 and _gemm_kernel != RNP_GEMM_BLAS
        if kpanels != NULL:
            rnp_sgemm(_gemm_kernel, tq, S, D, qp, ldq, kpanels, NULL, 0, NULL, 0, sp, S, NULL, 0, 0, 1)
        elif not (q1 and rnp_attn_q1_scores(sp, qp, kp, ldk, S, D)):
            _gemm_xwt(tq, S, D, qp, ldq, kp, ldk, sp, S)
    else:
        _gemm_xwt(tq, S, D, qp, ldq, kp, ldk, sp, S)  # [tq, S] scores
    for i in range(tq):
        _softmax_row(sp + <Py_ssize_t>i * S, mrow + i * mt if mrow != NULL else NULL, S, scale, use_hm, hm)
    # [tq, S] @ [S, D] -> outp; column-major: out.T = v.T @ p.T
    if real is float:
        if vpanels != NULL:
            rnp_sgemm(_gemm_kernel, tq, D, S, sp, S, vpanels, NULL, 0, NULL, 0, outp, C, NULL, 0, 0, 1)
            return
    if tq == 1:  # one query (decoding): GEMV, which reads v once without packing it
        if real is float:
            if q1 and rnp_attn_q1_values(outp, sp, vp, ldv, S, D):
                return
        _gemv_n(D, S, vp, ldv, sp, outp)
    else:
        _gemm(c'N', c'N', D, tq, S, vp, ldv, sp, S, <real>0, outp, C)


cdef void _attention_core(
    int B, int H, int T, int S, int D,
    real *q, Py_ssize_t qb, Py_ssize_t qh, Py_ssize_t qt,
    real *k, Py_ssize_t kb, Py_ssize_t kh, Py_ssize_t ks,
    real *v, Py_ssize_t vb, Py_ssize_t vh, Py_ssize_t vs,
    real *sin, real *cos, bint rotate_qk, bint rotate_v,
    real *mask, Py_ssize_t mb, Py_ssize_t mh, Py_ssize_t mt,
    real *head_mask, real *out, real *probs, int tile, int *failed,
) noexcept nogil:
    """out[b, t, h*D:(h+1)*D] = softmax(rot(q) rot(k).T / sqrt(D) + mask) * head_mask @ v.

    On our float32 GEMM with more than one query, the keys and values of each (b, h) are packed (rotated
    as asked) into the GEMM's panels once, so no query tile re-packs k or strides through the fused q/k/v
    rows of v. With at least two heads per thread, a task is one (b, h): its panels are packed into the
    thread's own buffers and stay in L2 for all its query tiles. Otherwise (few heads, or float64 / BLAS /
    one query) a first pass packs -- or rotates into [B, H, S, D] rows -- every head's keys and values,
    and a task is one (b, h, query tile of ``tile`` rows). Either way only a [tile, S] score block per
    thread exists (unless ``probs`` is given, then the rows are written straight into it), tasks are
    scheduled dynamically (a descheduled thread does not stall the others), and each tile is computed by
    one thread with the same calls whatever the thread count or the schedule: the same bits.
    """
    cdef int bh, task, b, h, t0, t1, tq, nt
    cdef int C = H * D
    cdef int ntiles = (T + tile - 1) // tile
    cdef real scale = <real>sqrt(<double>D)
    cdef Py_ssize_t SD = <Py_ssize_t>S * D
    cdef Py_ssize_t kpn = <Py_ssize_t>((S + 31) // 32) * 32 * D  # floats of one head's packed keys
    cdef Py_ssize_t vpn = <Py_ssize_t>((D + 31) // 32) * 32 * S  # ... and values
    cdef bint packed = False
    cdef bint per_head = False
    cdef real *krot = NULL
    cdef real *vrot = NULL
    cdef real *kpk
    cdef real *vpk
    cdef real *kown = NULL  # a thread's own panels (per-head tasks)
    cdef real *vown = NULL
    cdef real *qbuf = NULL
    cdef real *sbuf = NULL
    cdef real *tmp = NULL
    cdef size_t krot_bytes = 0
    cdef size_t vrot_bytes = 0
    cdef size_t tmp_bytes = sizeof(real) * 32 * D
    cdef size_t qbuf_bytes = sizeof(real) * (<Py_ssize_t>tile * D if rotate_qk else 1)
    cdef size_t sbuf_bytes = sizeof(real) * (<Py_ssize_t>tile * S if probs == NULL else 1)
    cdef real *kp
    cdef real *vp
    cdef real *qp
    cdef real *sp
    cdef real *mrow
    cdef real *sn = sin if rotate_qk else NULL
    cdef real *cs = cos if rotate_qk else NULL
    cdef real *vsn = sin if rotate_v else NULL
    cdef real *vcs = cos if rotate_v else NULL
    cdef int ldk, ldv, ldq
    cdef real hm
    if real is float:
        packed = _gemm_kernel != RNP_GEMM_BLAS and T > 1
    nt = _threads_for_work(B * H * ntiles, <Py_ssize_t>B * H * T * SD)
    per_head = packed and B * H >= 2 * nt
    # the first pass: every head's keys / values packed, or rotated into rows
    if packed and not per_head:
        krot_bytes = sizeof(real) * B * H * kpn
        vrot_bytes = sizeof(real) * B * H * vpn
    elif rotate_qk and not packed:
        krot_bytes = sizeof(real) * B * H * SD
        vrot_bytes = krot_bytes if rotate_v else 0
    if krot_bytes:
        krot = <real*>rnp_workspace(WS_KROT, krot_bytes)
        if vrot_bytes:
            vrot = <real*>rnp_workspace(WS_VROT, vrot_bytes)
        if krot == NULL or (vrot_bytes and vrot == NULL):
            failed[0] = 1
        else:
            with parallel(num_threads=_threads_for_work(B * H, <Py_ssize_t>B * H * SD)):
                tmp = NULL  # a private of this region: not the NULL it was declared with
                if packed:
                    tmp = <real*>rnp_workspace(WS_PACKTMP, tmp_bytes)
                    if tmp == NULL:
                        failed[0] = 1
                for bh in prange(B * H, schedule="dynamic"):
                    if failed[0]:
                        continue
                    b = bh // H
                    h = bh - b * H
                    if real is float:
                        if packed:
                            rnp_attn_pack_keys(krot + bh * kpn, k + b * kb + h * kh, ks, S, D, sn, cs, tmp)
                            rnp_attn_pack_values(vrot + bh * vpn, v + b * vb + h * vh, vs, S, D, vsn, vcs, tmp)
                            continue
                    _rotate_rows(krot + bh * SD, k + b * kb + h * kh, ks, S, D, sin, cos)
                    if rotate_v:
                        _rotate_rows(vrot + bh * SD, v + b * vb + h * vh, vs, S, D, sin, cos)
                if tmp != NULL:
                    rnp_ws_release(tmp, tmp_bytes)
    # the second pass: (b, h) tasks, or (b, h, query tile) tasks
    if not failed[0]:
        with parallel(num_threads=nt):
            qbuf = <real*>rnp_workspace(WS_QBUF, qbuf_bytes)
            sbuf = <real*>rnp_workspace(WS_SBUF, sbuf_bytes)
            kown = NULL
            vown = NULL
            tmp = NULL
            if per_head:
                kown = <real*>rnp_workspace(WS_KROT, sizeof(real) * kpn)
                vown = <real*>rnp_workspace(WS_VROT, sizeof(real) * vpn)
                tmp = <real*>rnp_workspace(WS_PACKTMP, tmp_bytes)
            if qbuf == NULL or sbuf == NULL or (per_head and (kown == NULL or vown == NULL or tmp == NULL)):
                failed[0] = 1
            for task in prange(B * H if per_head else B * H * ntiles, schedule="dynamic"):
                if failed[0]:
                    continue
                bh = task if per_head else task // ntiles
                b = bh // H
                h = bh - b * H
                kpk = NULL
                vpk = NULL
                if per_head:
                    kpk = kown
                    vpk = vown
                    if real is float:
                        rnp_attn_pack_keys(kpk, k + b * kb + h * kh, ks, S, D, sn, cs, tmp)
                        rnp_attn_pack_values(vpk, v + b * vb + h * vh, vs, S, D, vsn, vcs, tmp)
                elif packed:
                    kpk = krot + bh * kpn
                    vpk = vrot + bh * vpn
                kp = k + b * kb + h * kh
                ldk = <int>ks
                vp = v + b * vb + h * vh
                ldv = <int>vs
                if rotate_qk and not packed:
                    kp = krot + bh * SD
                    ldk = D
                if rotate_v and not packed:
                    vp = vrot + bh * SD
                    ldv = D
                hm = head_mask[h] if head_mask != NULL else 1
                t0 = 0 if per_head else (task - bh * ntiles) * tile
                t1 = T if per_head else min(T, t0 + tile)
                while t0 < t1:
                    tq = min(tile, t1 - t0)
                    qp = q + b * qb + h * qh + <Py_ssize_t>t0 * qt
                    ldq = <int>qt
                    if rotate_qk:
                        _rotate_rows(qbuf, qp, qt, tq, D, sin + <Py_ssize_t>t0 * (D // 2),
                                     cos + <Py_ssize_t>t0 * (D // 2))
                        qp = qbuf
                        ldq = D
                    sp = probs + ((<Py_ssize_t>b * H + h) * T + t0) * S if probs != NULL else sbuf
                    mrow = mask + b * mb + h * mh + <Py_ssize_t>t0 * mt if mask != NULL else NULL
                    _attend_tile(tq, S, D, C, qp, ldq, kp, ldk, kpk, vp, ldv, vpk, sp, mrow, mt, scale,
                                 head_mask != NULL, hm, out + (<Py_ssize_t>b * T + t0) * C + <Py_ssize_t>h * D)
                    t0 = t0 + tile
            if qbuf != NULL:
                rnp_ws_release(qbuf, qbuf_bytes)
            if sbuf != NULL:
                rnp_ws_release(sbuf, sbuf_bytes)
            if per_head:
                if kown != NULL:
                    rnp_ws_release(kown, sizeof(real) * kpn)
                if vown != NULL:
                    rnp_ws_release(vown, sizeof(real) * vpn)
                if tmp != NULL:
                    rnp_ws_release(tmp, tmp_bytes)
    if krot != NULL:
        rnp_ws_release(krot, krot_bytes)
    if vrot != NULL:
        rnp_ws_release(vrot, vrot_bytes)


def apply_rotary(x, sin, cos):
    """Rotate adjacent feature pairs of x [B, H, T, D] by sin/cos [T, D/2]."""
    x = np.asarray(x)
    dt = _dtype_of(x, sin, cos)
    if dt is None or x.ndim != 4 or x.shape[-1] % 2 or np.shape(sin) != (x.shape[2], x.shape[3] // 2) \
            or np.shape(cos) != np.shape(sin):
        return _fallback("apply_rotary", "unsupported dtype or shape")(x, sin, cos)
    xa, sn, cs = _c(x, dt), _c(sin, dt), _c(cos, dt)
    out = np.empty(xa.shape, dtype=dt)
    cdef int bh, BH = xa.shape[0] * xa.shape[1], T = xa.shape[2], D = xa.shape[3]
    cdef Py_ssize_t step = <Py_ssize_t>T * D
    cdef int nt = _threads_for_work(BH, <Py_ssize_t>BH * step)
    cdef void *po = _ptr(out)
    cdef void *px = _ptr(xa)
    cdef void *ps = _ptr(sn)
    cdef void *pc = _ptr(cs)
    cdef bint f32 = dt.itemsize == 4
    with nogil:
        if f32:
            for bh in prange(BH, num_threads=nt, schedule="static"):
                _rotate_rows[float](<float*>po + bh * step, <float*>px + bh * step, D, T, D, <float*>ps, <float*>pc)
        else:
            for bh in prange(BH, num_threads=nt, schedule="static"):
                _rotate_rows[double](<double*>po + bh * step, <double*>px + bh * step, D, T, D,
                                     <double*>ps, <double*>pc)
    return out


cdef void _append_rows(real *dst, real *src, Py_ssize_t lds, int rows, int d, real *sin, real *cos,
                       bint rotate) noexcept nogil:
    """dst [rows, d] = src rows (``lds`` apart), rotated under ``rotate``."""
    cdef int r
    if rotate:
        _rotate_rows(dst, src, lds, rows, d, sin, cos)
        return
    for r in range(rows):
        memcpy(dst + <Py_ssize_t>r * d, src + r * lds, sizeof(real) * d)


cdef bint _rows_of(object a, tuple shape, object dt):
    """Whether ``a`` is an ndarray of ``shape`` and ``dt`` whose [B, H] blocks are [T, D] rows D apart."""
    return type(a) is np.ndarray and a.shape == shape and a.dtype == dt and a.strides[3] == a.itemsize and (
        shape[2] < 2 or a.strides[2] == shape[3] * a.itemsize)


def rotary_append(q, k, v, sin, cos, k_out, v_out, rotary_value=False):
    """Rotate q and k (and v under ``rotary_value``), writing k and v into ``k_out`` / ``v_out`` (the cache's
    slots, [B, H, T, D] views of its buffers) in the same pass; returns the rotated q [B, H, T, D]."""
    q, k, v = np.asarray(q), np.asarray(k), np.asarray(v)
    dt = _dtype_of(q, k, v, sin, cos)
    shape = q.shape
    if dt is None or q.ndim != 4 or k.shape != shape or v.shape != shape or shape[3] % 2 or \
            np.shape(sin) != (shape[2], shape[3] // 2) or np.shape(cos) != np.shape(sin) or \
            not _rows_of(k_out, shape, dt) or not _rows_of(v_out, shape, dt) or not k_out.flags.writeable or \
            not v_out.flags.writeable:
        return _fallback("rotary_append", "unsupported dtype or layout")(q, k, v, sin, cos, k_out, v_out,
                                                                          rotary_value)
    qa, ka, va = _rowview(q, dt), _rowview(k, dt), _rowview(v, dt)
    sn, cs = _c(sin, dt), _c(cos, dt)
    out = np.empty(shape, dtype=dt)
    cdef int B = shape[0], H = shape[1], T = shape[2], D = shape[3], bh, b, h
    cdef Py_ssize_t qb = _st(qa, 0, 1), qh = _st(qa, 1, 1), qt = _st(qa, 2, D)
    cdef Py_ssize_t kb = _st(ka, 0, 1), kh = _st(ka, 1, 1), kt = _st(ka, 2, D)
    cdef Py_ssize_t vb = _st(va, 0, 1), vh = _st(va, 1, 1), vt = _st(va, 2, D)
    cdef Py_ssize_t ob = _st(k_out, 0, 1), oh = _st(k_out, 1, 1), pb = _st(v_out, 0, 1), ph = _st(v_out, 1, 1)
    cdef Py_ssize_t step = <Py_ssize_t>T * D
    cdef bint rv = bool(rotary_value), f32 = dt.itemsize == 4
    cdef int nt = _threads_for_work(B * H, 3 * <Py_ssize_t>B * H * step)
    cdef void *pq = _ptr(qa)
    cdef void *pk = _ptr(ka)
    cdef void *pv = _ptr(va)
    cdef void *ps = _ptr(sn)
    cdef void *pc = _ptr(cs)
    cdef void *po = _ptr(out)
    cdef void *pko = _ptr(k_out)
    cdef void *pvo = _ptr(v_out)
    if B * H * T == 0:
        return out
    with nogil:
        for bh in prange(B * H, num_threads=nt, schedule="static"):
            b = bh // H
            h = bh - b * H
            if f32:
                _rotate_rows[float](<float*>po + bh * step, <float*>pq + b * qb + h * qh, qt, T, D, <float*>ps,
                                    <float*>pc)
                _rotate_rows[float](<float*>pko + b * ob + h * oh, <float*>pk + b * kb + h * kh, kt, T, D,
                                    <float*>ps, <float*>pc)
                _append_rows[float](<float*>pvo + b * pb + h * ph, <float*>pv + b * vb + h * vh, vt, T, D,
                                    <float*>ps, <float*>pc, rv)
            else:
                _rotate_rows[double](<double*>po + bh * step, <double*>pq + b * qb + h * qh, qt, T, D, <double*>ps,
                                     <double*>pc)
                _rotate_rows[double](<double*>pko + b * ob + h * oh, <double*>pk + b * kb + h * kh, kt, T, D,
                                     <double*>ps, <double*>pc)
                _append_rows[double](<double*>pvo + b * pb + h * ph, <double*>pv + b * vb + h * vh, vt, T, D,
                                     <double*>ps, <double*>pc, rv)
    return out


cdef object _attention_impl(str name, q, k, v, sin, cos, bint rotate_qk, bint rotate_v, mask, head_mask,
                            bint output_attentions):
    """The shared wrapper of attention / rotary_attention; None means "not supported natively"."""
    q, k, v = np.asarray(q), np.asarray(k), np.asarray(v)
    args = [q, k, v] + ([sin, cos] if rotate_qk else []) + ([] if mask is None else [mask]) + \
        ([] if head_mask is None else [head_mask])
    dt = _dtype_of(*args)
    if dt is None or q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        return None
    B, H, T, D = q.shape
    S = k.shape[2]
    if k.shape != (B, H, S, D) or v.shape != (B, H, S, D) or D == 0:
        return None
    if rotate_qk and (D % 2 or S != T or np.shape(sin) != (T, D // 2) or np.shape(cos) != (T, D // 2)):
        return None
    if head_mask is not None and np.size(head_mask) != H:
        return None
    qa, ka, va = _rowview(q, dt), _rowview(k, dt), _rowview(v, dt)
    sn = _c(sin, dt) if rotate_qk else None
    cs = _c(cos, dt) if rotate_qk else None
    mk = None
    cdef Py_ssize_t mb = 0, mh = 0, mt = 0
    if mask is not None:
        m = np.asarray(mask, dtype=dt)
        if m.ndim == 4 and m.shape[3] == S and m.strides[3] == m.itemsize and all(
                m.shape[i] == 1 or m.shape[i] == n for i, n in enumerate((B, H, T))):
            # [b|1, h|1, t|1, S] (a decoding step's [B, 1, 1, S]): broadcast by zero strides, no broadcast_to
            mb, mh, mt = (0 if m.shape[i] == 1 else m.strides[i] // m.itemsize for i in range(3))
        else:
            m = np.broadcast_to(m, (B, H, T, S))
            if S > 1 and m.strides[3] != m.dtype.itemsize:
                m = np.ascontiguousarray(m)
            mb, mh, mt = (s // m.dtype.itemsize for s in m.strides[:3])
        mk = m
    hmk = None if head_mask is None else _c(np.reshape(head_mask, -1), dt)
    out = np.empty((B, T, H * D), dtype=dt)
    probs = np.empty((B, H, T, S), dtype=dt) if output_attentions else None
    if B * H * T == 0:
        return out, probs
    if S == 0:
        out[...] = np.nan  # softmax over nothing, as the reference (0/0)
        if probs is not None:
            probs = probs.reshape(B, H, T, 0)
        return out, probs
    cdef Py_ssize_t qb = _st(qa, 0, 1), qh = _st(qa, 1, 1), qt = _st(qa, 2, D)
    cdef Py_ssize_t kb = _st(ka, 0, 1), kh = _st(ka, 1, 1), ks = _st(ka, 2, D)
    cdef Py_ssize_t vb = _st(va, 0, 1), vh = _st(va, 1, 1), vs = _st(va, 2, D)
    cdef int B_ = B, H_ = H, T_ = T, S_ = S, D_ = D
    cdef int tile = _attention_tile(T, S)
    cdef int failed = 0
    cdef void *pq = _ptr(qa)
    cdef void *pk = _ptr(ka)
    cdef void *pv = _ptr(va)
    cdef void *ps = _ptr(sn)
    cdef void *pc = _ptr(cs)
    cdef void *pm = _ptr(mk)
    cdef void *ph = _ptr(hmk)
    cdef void *po = _ptr(out)
    cdef void *pp = _ptr(probs)
    cdef bint f32 = dt.itemsize == 4
    _guard.enter()
    with nogil:
        if f32:
            _attention_core[float](
                B_, H_, T_, S_, D_, <float*>pq, qb, qh, qt, <float*>pk, kb, kh, ks, <float*>pv, vb, vh, vs,
                <float*>ps, <float*>pc, rotate_qk, rotate_v, <float*>pm, mb, mh, mt, <float*>ph, <float*>po,
                <float*>pp, tile, &failed)
        else:
            _attention_core[double](
                B_, H_, T_, S_, D_, <double*>pq, qb, qh, qt, <double*>pk, kb, kh, ks, <double*>pv, vb, vh, vs,
                <double*>ps, <double*>pc, rotate_qk, rotate_v, <double*>pm, mb, mh, mt, <double*>ph, <double*>po,
                <double*>pp, tile, &failed)
    _guard.exit()
    if failed:
        raise MemoryError(f"native {name}: could not allocate the per-thread attention buffers")
    return out, probs


def attention(q, k, v, mask, head_mask=None, output_attentions=False):
    """Scaled dot-product attention; q [B, H, T, D], k/v [B, H, S, D] (strided views welcome).

    Returns the context [B, T, C] and the probabilities [B, H, T, S] if asked (else None).
    """
    res = _attention_impl("attention", q, k, v, None, None, False, False, mask, head_mask, output_attentions)
    if res is None:
        return _fallback("attention", "unsupported dtype or shape")(q, k, v, mask, head_mask, output_attentions)
    return res


def rotary_attention(q, k, v, sin, cos, mask, rotary_value=False, head_mask=None, output_attentions=False):
    """Rotate q and k (and v under ``rotary_value``) and attend, in one pass per (batch, head)."""
    res = _attention_impl("rotary_attention", q, k, v, sin, cos, True, bool(rotary_value), mask, head_mask,
                          output_attentions)
    if res is None:
        return _fallback("rotary_attention", "unsupported dtype or shape")(
            q, k, v, sin, cos, mask, rotary_value, head_mask, output_attentions)
    return res


def grouped_rotary_attention(q, k, v, sin, cos, groups, rotary_value=False):
    """Rotary attention within each row of several length groups packed in one [1, H, N, D] projection: one
    native call for all the groups (see ``ops.grouped_rotary_attention``). Each group runs the attention core
    exactly as ``rotary_attention`` runs it for the group alone, with the additive mask of an all-visible row
    (-0.0 everywhere, as Hugging Face's mask of ones), so every row gets the bits of its own call."""
    q, k, v = np.asarray(q), np.asarray(k), np.asarray(v)
    dt = _dtype_of(q, k, v, sin, cos)
    if dt is None or q.ndim != 4 or q.shape[0] != 1 or k.shape != q.shape or v.shape != q.shape \
            or q.shape[3] % 2 or q.shape[3] == 0 or np.ndim(sin) != 2 or np.shape(sin) != np.shape(cos) \
            or np.shape(sin)[1] != q.shape[3] // 2:
        return _fallback("grouped_rotary_attention", "unsupported dtype or shape")(
            q, k, v, sin, cos, groups, rotary_value)
    g = _ops().check_groups(groups, q.shape[2], np.shape(sin)[0])
    cdef int H = q.shape[1], N = q.shape[2], D = q.shape[3], C = q.shape[1] * q.shape[3]
    cdef int longest = int(g[:, 1].max())
    qa, ka, va = _rowview(q, dt), _rowview(k, dt), _rowview(v, dt)
    sn, cs = _c(sin[:longest], dt), _c(cos[:longest], dt)
    visible = np.full(longest, -0.0, dtype=dt)  # one row of the additive mask, shared by every row (strides 0)
    out = np.empty((1, N, C), dtype=dt)
    spans = [(int(r), int(n)) for r, n in g]
    cdef Py_ssize_t qh = _st(qa, 1, 1), qt = _st(qa, 2, D)
    cdef Py_ssize_t kh = _st(ka, 1, 1), kt = _st(ka, 2, D)
    cdef Py_ssize_t vh = _st(va, 1, 1), vt = _st(va, 2, D)
    cdef int rows, length, failed = 0
    cdef Py_ssize_t first = 0
    cdef bint f32 = dt.itemsize == 4, rot_v = bool(rotary_value)
    cdef char *pq = <char*>_ptr(qa)
    cdef char *pk = <char*>_ptr(ka)
    cdef char *pv = <char*>_ptr(va)
    cdef char *po = <char*>_ptr(out)
    cdef void *ps = _ptr(sn)
    cdef void *pc = _ptr(cs)
    cdef void *pm = _ptr(visible)
    cdef Py_ssize_t item = dt.itemsize
    _guard.enter()
    for rows, length in spans:
        # this group's row b, head h, token t: element h * qh + (first + b * length + t) * qt
        with nogil:
            if f32:
                _attention_core[float](
                    rows, H, length, length, D,
                    <float*>(pq + first * qt * item), length * qt, qh, qt,
                    <float*>(pk + first * kt * item), length * kt, kh, kt,
                    <float*>(pv + first * vt * item), length * vt, vh, vt,
                    <float*>ps, <float*>pc, True, rot_v, <float*>pm, 0, 0, 0, NULL,
                    <float*>(po + first * C * item), NULL, _attention_tile(length, length), &failed)
            else:
                _attention_core[double](
                    rows, H, length, length, D,
                    <double*>(pq + first * qt * item), length * qt, qh, qt,
                    <double*>(pk + first * kt * item), length * kt, kh, kt,
                    <double*>(pv + first * vt * item), length * vt, vh, vt,
                    <double*>ps, <double*>pc, True, rot_v, <double*>pm, 0, 0, 0, NULL,
                    <double*>(po + first * C * item), NULL, _attention_tile(length, length), &failed)
        if failed:
            break
        first = first + <Py_ssize_t>rows * length
    _guard.exit()
    if failed:
        raise MemoryError("native grouped_rotary_attention: could not allocate the per-thread attention buffers")
    return out

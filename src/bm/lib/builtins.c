/* The bit-counting helpers GCC calls for __builtin_ctz/clz on harts without Zbb. Debian's
 * libgcc is built for the lp64d ABI and cannot be linked into this soft-float image. */
int __ctzsi2(unsigned int x);
int __ctzdi2(unsigned long x);
int __clzsi2(unsigned int x);
int __clzdi2(unsigned long x);
unsigned __int128 __udivti3(unsigned __int128 n, unsigned __int128 d);
unsigned __int128 __umodti3(unsigned __int128 n, unsigned __int128 d);

int __ctzdi2(unsigned long x)
{
    int n = 0;
    if (!x)
        return 64;   /* undefined for the builtin; a defined value here */
    while (!(x & 1)) {
        x >>= 1;
        n++;
    }
    return n;
}

int __ctzsi2(unsigned int x)
{
    return x ? __ctzdi2(x) : 32;
}

int __clzdi2(unsigned long x)
{
    int n = 0;
    if (!x)
        return 64;
    while (!(x & (1UL << 63))) {
        x <<= 1;
        n++;
    }
    return n;
}

int __clzsi2(unsigned int x)
{
    return x ? __clzdi2(x) - 32 : 32;
}

/* 128-bit division, which GCC calls for the rate limiter's exact arithmetic: restoring
 * division a bit at a time (a divisor of 0 gives all ones, as no trap is wanted here). */
static unsigned __int128 udivmod128(unsigned __int128 n, unsigned __int128 d,
                                    unsigned __int128 *rem)
{
    if (!d) {
        *rem = n;
        return ~(unsigned __int128)0;
    }
    unsigned __int128 q = 0, r = 0;
    for (int i = 127; i >= 0; i--) {
        r = r << 1 | ((n >> i) & 1);
        if (r >= d) {
            r -= d;
            q |= (unsigned __int128)1 << i;
        }
    }
    *rem = r;
    return q;
}

unsigned __int128 __udivti3(unsigned __int128 n, unsigned __int128 d)
{
    unsigned __int128 r;
    return udivmod128(n, d, &r);
}

unsigned __int128 __umodti3(unsigned __int128 n, unsigned __int128 d)
{
    unsigned __int128 r;
    udivmod128(n, d, &r);
    return r;
}

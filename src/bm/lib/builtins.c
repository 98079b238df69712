/* The bit-counting helpers GCC calls for __builtin_ctz/clz on harts without Zbb. Debian's
 * libgcc is built for the lp64d ABI and cannot be linked into this soft-float image. */
int __ctzsi2(unsigned int x);
int __ctzdi2(unsigned long x);
int __clzsi2(unsigned int x);
int __clzdi2(unsigned long x);

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

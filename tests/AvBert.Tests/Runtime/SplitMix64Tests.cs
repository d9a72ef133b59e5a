using AvBert.Runtime;

namespace AvBert.Tests.Runtime;

public class SplitMix64Tests
{
    [Fact]
    public void The_generator_draws_the_published_splitmix64_sequence()
    {
        // Vigna's reference splitmix64.c seeded with 0 starts 0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F.
        ulong state = 0;
        Assert.Equal(0xE220A8397B1DCDAFUL, SplitMix64.Next(ref state));
        Assert.Equal(0x6E789E6AA1B965F4UL, SplitMix64.Next(ref state));
        Assert.Equal(0x06C45D188009454FUL, SplitMix64.Next(ref state));
        Assert.Equal(0xE220A8397B1DCDAFUL, SplitMix64.Mix(0));
    }
}

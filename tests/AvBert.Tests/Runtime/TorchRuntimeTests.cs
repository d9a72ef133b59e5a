using AvBert.Runtime;

namespace AvBert.Tests.Runtime;

public class TorchRuntimeTests
{
    [System.Runtime.InteropServices.DllImport("libc")]
    static extern IntPtr getenv(string name);

    [Fact]
    public void OpenMp_threads_wait_passively_unless_the_user_chose_otherwise()
    {
        // TestSetup already called TorchRuntime.Initialize(); the value must be in the C environment libgomp reads.
        var value = System.Runtime.InteropServices.Marshal.PtrToStringAnsi(getenv("OMP_WAIT_POLICY"));
        var userChoice = Environment.GetEnvironmentVariable("OMP_WAIT_POLICY"); // .NET's copy: what the process started with
        Assert.Equal(userChoice ?? "PASSIVE", value);
    }

    [Fact]
    public void Loaded_libtorch_is_the_folder_holding_the_mapped_libtorch_cpu()
    {
        var dir = TorchRuntime.LoadedLibTorch();
        Assert.NotNull(dir);
        Assert.True(File.Exists(Path.Combine(dir!, "libtorch_cpu.so")), dir);
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("CPU")]
    [InlineData(" auto ")]
    public void Cpu_and_auto_resolve_on_a_machine_without_cuda(string spec)
    {
        if (TorchSharp.torch.cuda.is_available()) return; // on a GPU machine auto means CUDA
        Assert.Equal(TorchSharp.DeviceType.CPU, TorchRuntime.ResolveDevice(spec).type);
    }

    [Fact]
    public void Unknown_devices_are_errors_naming_the_valid_ones()
    {
        var e = Assert.Throws<UserError>(() => TorchRuntime.ResolveDevice("tpu"));
        Assert.Contains("cpu, cuda, cuda:N, auto", e.Message);
    }

    [Fact]
    public void A_cpu_that_hides_its_caches_starts_oneDNN_at_SSE41_unless_something_lower_or_the_user_decides()
    {
        var hidden = new CpuCacheTopology("AuthenticAMD", Hidden: true, 0, 0, "CPUID 0x8000001D");
        var visible = new CpuCacheTopology("GenuineIntel", Hidden: false, 48 << 10, 2 << 20, "CPUID 4");
        Assert.Equal("SSE41", TorchRuntime.HiddenCachesCap(null, null, hidden));
        Assert.Equal("SSE41", TorchRuntime.HiddenCachesCap("AVX2", "auto", hidden));   // a remembered AVX2 is lowered
        Assert.Null(TorchRuntime.HiddenCachesCap("SSE41", null, hidden));             // already there
        Assert.Null(TorchRuntime.HiddenCachesCap(null, null, visible));
        Assert.Null(TorchRuntime.HiddenCachesCap(null, null, null));                  // not x86-64
        Assert.Null(TorchRuntime.HiddenCachesCap(null, "off", hidden));               // the check's probe children test the rung they are given
    }
}

using AvBert.Config;
using AvBert.Pretraining;
using AvBert.Runs;
using AvBert.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Tests.Runs;

/// <summary>What `bench step` reports, on a tiny model on the CPU (behaviour only: nothing here is timed against a bound).</summary>
[Collection(AvBert.Tests.Training.TorchRngCollection.Name)]
public class StepBenchmarkTests
{
    static readonly AvBertConfig Tiny = ConfigLoader.Load("small", null, [.. AvBert.Tests.Runs.LabeledMediaFixture.TinySets, "data.sequence_length=3"]);

    [Theory]
    [InlineData(BenchedStep.Model)]
    [InlineData(BenchedStep.Pretraining)]
    [InlineData(BenchedStep.Loader)]
    public void Every_step_reports_throughput_phases_and_peak_memory(BenchedStep step)
    {
        var r = StepBenchmark.Run(new StepBenchmark.Options { Config = Tiny, Device = CPU, Precision = Precision.Auto, Batch = 2, Steps = 2, Warmup = 1, Step = step, Workers = 1 }, TextWriter.Null);
        Assert.Equal(Precision.Fp32, r.Precision);                        // auto on the CPU
        Assert.Equal(6, r.Clips);
        Assert.True(r.ClipsPerSecond > 0 && r.ForwardMs > 0 && r.BackwardMs > 0 && r.OptimizerMs > 0, r.Summary);
        Assert.True(r.PeakBytes > 0, r.Summary);
        Assert.Contains("peak RSS", r.PeakSource);
        Assert.Contains("clips/s | data ", r.Summary);
        if (step == BenchedStep.Loader)
        {
            // The real loader: batches come from toy-av through the BatchLoader; the trainer's wait for them is reported.
            Assert.Equal(1, r.Workers);
            Assert.NotNull(r.DataWaitMs);
            Assert.True(r.DataWaitMs >= 0 && r.DataMs > 0, r.Summary);
            Assert.Contains("waiting for data", r.Summary);
            Assert.Contains("workers=1", r.Summary);
        }
        else
        {
            Assert.Null(r.DataWaitMs);
            Assert.Null(r.Workers);
            Assert.DoesNotContain("waiting for data", r.Summary);
        }
    }

    [Fact]
    public void Allocator_statistics_report_unavailable_on_the_cpu_build_without_calling_anything()
    {
        Assert.Equal("not a CUDA device", DeviceMemory.Unavailable(CPU));
        Assert.False(DeviceMemory.ResetPeak(CPU));
        Assert.Null(DeviceMemory.ReadPeak(CPU, out var why));
        Assert.Equal("not a CUDA device", why);
        Assert.StartsWith("unavailable (", DeviceMemory.Describe(CPU));
        var gpu = new Device(DeviceType.CUDA, 0);
        if (!cuda.is_available())
        {
            Assert.Equal("CUDA is not available", DeviceMemory.Unavailable(gpu));
            Assert.False(DeviceMemory.ResetPeak(gpu));
            Assert.Null(DeviceMemory.ReadPeak(gpu, out _));
        }
    }
}

using AvBert.Config;
using AvBert.Model;
using AvBert.Runtime;
using AvBert.Tests.Model;

namespace AvBert.Tests.Runtime;

/// <summary>The CPU convolution self-check's decision logic and cache, with injected verdicts (fast, no torch work).</summary>
public class ConvolutionGuardTests
{
    static readonly ConvShape Stem = new(3, 24, [5, 7, 7], [2, 2, 2], [2, 3, 3], [1, 1, 1], 1);
    static readonly ConvShape Wide = new(24, 24, [3, 3], [1, 1], [1, 1], [1, 1], 1);

    sealed class FakeSwitch(bool available = true) : IOneDnnSwitch
    {
        public bool Available { get; } = available;
        public bool Enabled { get; set; } = true;
    }

    /// <summary>A check that fails the stem's weight gradient while oneDNN is on (or always), counting its calls.</summary>
    sealed class FakeCheck(FakeSwitch oneDnn, bool failWithOneDnn, bool failWithout = false)
    {
        public int Calls;
        public List<int> Sizes = [];
        public ConvCheckResult Run(IReadOnlyList<ConvShape> shapes)
        {
            Calls++;
            Sizes.Add(shapes.Count);
            bool fail = oneDnn.Enabled ? failWithOneDnn : failWithout;
            return new(shapes.Select(s => new ConvShapeResult(s, fail && s == Stem ? "weight gradient" : "forward",
                                                              fail && s == Stem ? double.PositiveInfinity : 1e-7)).ToList());
        }
    }

    sealed record Setup(ConvolutionGuard Guard, FakeSwitch Switch, FakeCheck Check, List<string> Notes);

    static Setup Make(bool failWithOneDnn, bool failWithout = false, string? cache = null, string? mode = null,
                      string machine = "cpu=Test CPU; libtorch=/x/libtorch_cpu.so:1:2", bool switchAvailable = true)
    {
        var sw = new FakeSwitch(switchAvailable);
        var check = new FakeCheck(sw, failWithOneDnn, failWithout);
        var notes = new List<string>();
        var guard = new ConvolutionGuard(check.Run, sw, cache, notes.Add, () => mode, () => machine);
        return new Setup(guard, sw, check, notes);
    }

    [Fact]
    public void A_passing_check_keeps_oneDNN_and_says_nothing()
    {
        var s = Make(failWithOneDnn: false);
        s.Guard.Ensure([Stem, Wide]);
        Assert.True(s.Switch.Enabled);
        Assert.False(s.Guard.UsingAtenConvolutions);
        Assert.Empty(s.Notes);
        Assert.StartsWith("oneDNN passed the self-check (2 shape classes", s.Guard.Verdict);
    }

    [Fact]
    public void A_failing_oneDNN_switches_to_ATen_rechecks_and_says_so_in_one_line()
    {
        var s = Make(failWithOneDnn: true);
        s.Guard.Ensure([Stem, Wide]);
        Assert.False(s.Switch.Enabled);
        Assert.True(s.Guard.UsingAtenConvolutions);
        Assert.Equal(2, s.Check.Calls); // once with oneDNN, once more to prove ATen's convolutions
        var note = Assert.Single(s.Notes);
        Assert.Equal("note: this CPU's oneDNN float32 convolutions failed the self-check " +
                     "(conv3d 3→24 k5×7×7 s2×2×2 p2×3×3 d1×1×1 g1: weight gradient not finite); using ATen's convolutions instead (checked)", note);
        Assert.Contains("using ATen's convolutions (checked)", s.Guard.Verdict);

        // A model built later with more classes: checked on ATen's convolutions, no second note.
        var more = Wide with { InChannels = 40, OutChannels = 40 };
        s.Guard.Ensure([Stem, more]);
        Assert.Equal(3, s.Check.Calls);
        Assert.Equal(1, s.Check.Sizes[^1]);
        Assert.Single(s.Notes);
    }

    [Fact]
    public void Classes_already_checked_in_this_process_are_not_checked_again()
    {
        var s = Make(failWithOneDnn: false);
        s.Guard.Ensure([Stem, Wide]);
        s.Guard.Ensure([Wide, Stem, Wide]);
        Assert.Equal(1, s.Check.Calls);
    }

    [Fact]
    public void When_ATen_fails_too_it_stops_with_one_line_rather_than_compute_garbage()
    {
        var s = Make(failWithOneDnn: true, failWithout: true);
        var e = Assert.Throws<ConvolutionCheckFailed>(() => s.Guard.Ensure([Stem, Wide]));
        Assert.Contains("even with oneDNN switched off", e.Message);
        Assert.Contains("conv3d 3→24", e.Message);
        Assert.Contains("ONEDNN_MAX_CPU_ISA", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal(ExitCodes.UserError, e.ExitCode);
    }

    [Fact]
    public void Without_the_switch_a_failure_is_an_error_naming_the_ISA_cap()
    {
        var s = Make(failWithOneDnn: true, switchAvailable: false);
        var e = Assert.Throws<ConvolutionCheckFailed>(() => s.Guard.Ensure([Stem]));
        Assert.Contains("cannot be switched off", e.Message);
        Assert.Contains("ONEDNN_MAX_CPU_ISA=AVX2", e.Message);
    }

    [Fact]
    public void Off_skips_the_check_and_a_bad_value_is_a_user_error()
    {
        var off = Make(failWithOneDnn: true, mode: "off");
        off.Guard.Ensure([Stem]);
        Assert.Equal(0, off.Check.Calls);
        Assert.True(off.Switch.Enabled);
        Assert.Equal("not checked (AVBERT_CONV_CHECK=off)", off.Guard.Verdict);

        var bad = Make(failWithOneDnn: false, mode: "sometimes");
        var e = Assert.Throws<UserError>(() => bad.Guard.Ensure([Stem]));
        Assert.Contains("AVBERT_CONV_CHECK=sometimes", e.Message);
    }

    [Fact]
    public void A_cached_verdict_is_reused_for_the_same_machine_libtorch_and_shapes()
    {
        var dir = TestSetup.TempDir("conv-cache");
        var first = Make(failWithOneDnn: true, cache: dir);
        first.Guard.Ensure([Stem, Wide]);
        Assert.Single(Directory.GetFiles(dir, "*.json"), f => !Path.GetFileName(f).StartsWith("isa-"));

        var second = Make(failWithOneDnn: true, cache: dir); // a new process on the same machine
        second.Guard.Ensure([Wide, Stem]);
        Assert.Equal(0, second.Check.Calls);
        Assert.False(second.Switch.Enabled); // the cached failure applies the workaround without checking again
        Assert.EndsWith("using ATen's convolutions instead (checked, cached)", Assert.Single(second.Notes));

        var passing = Make(failWithOneDnn: false, cache: dir, machine: "cpu=Other CPU; libtorch=/x/libtorch_cpu.so:1:2");
        passing.Guard.Ensure([Stem, Wide]);
        Assert.Equal(1, passing.Check.Calls); // another CPU model: checked again
        Assert.True(passing.Switch.Enabled);

        var newLibTorch = Make(failWithOneDnn: false, cache: dir, machine: "cpu=Test CPU; libtorch=/y/libtorch_cpu.so:3:4");
        newLibTorch.Guard.Ensure([Stem, Wide]);
        Assert.Equal(1, newLibTorch.Check.Calls); // another libtorch: checked again

        var otherShapes = Make(failWithOneDnn: false, cache: dir);
        otherShapes.Guard.Ensure([Stem]);
        Assert.Equal(1, otherShapes.Check.Calls); // another shape set: checked again

        var forced = Make(failWithOneDnn: true, cache: dir, mode: "force");
        forced.Guard.Ensure([Stem, Wide]);
        Assert.Equal(2, forced.Check.Calls); // force ignores the cache
    }

    [Fact]
    public void After_a_failure_later_runs_try_oneDNN_capped_at_AVX2_and_give_up_on_the_cap_if_that_fails_too()
    {
        const string machine = "cpu=Test CPU; libtorch=/x/libtorch_cpu.so:1:2";
        var dir = TestSetup.TempDir("conv-isa");
        var uncapped = Make(failWithOneDnn: true, cache: dir, machine: machine);
        uncapped.Guard.Ensure([Stem]);
        Assert.EndsWith("; the next run tries oneDNN capped at AVX2", Assert.Single(uncapped.Notes));
        Assert.Equal("AVX2", ConvolutionGuard.RememberedIsaCap(dir, machine));
        Assert.Null(ConvolutionGuard.RememberedIsaCap(dir, "cpu=Other CPU; libtorch=/x/libtorch_cpu.so:1:2"));

        // The next run: TorchRuntime capped oneDNN at AVX2 (ours); if the capped convolutions pass, oneDNN stays on.
        var capped = Make(failWithOneDnn: false, cache: dir, machine: machine);
        var cappedGuard = new ConvolutionGuard(capped.Check.Run, capped.Switch, dir, capped.Notes.Add, () => null, () => machine)
            { IsaCap = () => ("AVX2", true) };
        cappedGuard.Ensure([Stem]);
        Assert.True(capped.Switch.Enabled);
        Assert.Equal(1, capped.Check.Calls); // the cap is part of the cache key: checked afresh
        Assert.Contains("oneDNN capped at AVX2 instead (checked)", Assert.Single(capped.Notes));
        Assert.StartsWith("oneDNN capped at AVX2 (chosen for this CPU) passed", cappedGuard.Verdict);

        // On a machine where the capped ones fail too: ATen now, and no cap from then on.
        var sw = new FakeSwitch();
        var failing = new FakeCheck(sw, failWithOneDnn: true);
        var otherDir = TestSetup.TempDir("conv-isa-fails");
        new ConvolutionGuard(failing.Run, sw, otherDir, _ => { }, () => null, () => machine) { IsaCap = () => ("AVX2", true) }.Ensure([Stem]);
        Assert.False(sw.Enabled);
        Assert.Single(Directory.GetFiles(otherDir, "isa-*.json"));
        Assert.Null(ConvolutionGuard.RememberedIsaCap(otherDir, machine));

        // A cap the user chose is never overridden.
        var userDir = TestSetup.TempDir("conv-isa-user");
        var sw2 = new FakeSwitch();
        new ConvolutionGuard(new FakeCheck(sw2, true).Run, sw2, userDir, _ => { }, () => null, () => machine) { IsaCap = () => ("AVX2", false) }.Ensure([Stem]);
        Assert.Empty(Directory.GetFiles(userDir, "isa-*"));
    }

    [Fact]
    public void A_corrupt_or_foreign_cache_file_is_checked_again_and_rewritten()
    {
        var dir = TestSetup.TempDir("conv-cache-bad");
        Make(failWithOneDnn: false, cache: dir).Guard.Ensure([Stem]);
        var file = Assert.Single(Directory.GetFiles(dir, "*.json"));
        var good = File.ReadAllText(file);

        File.WriteAllText(file, "{\"Key\": \"trunc");
        var afterCorrupt = Make(failWithOneDnn: false, cache: dir);
        afterCorrupt.Guard.Ensure([Stem]);
        Assert.Equal(1, afterCorrupt.Check.Calls);
        Assert.Equal(good, File.ReadAllText(file));

        File.WriteAllText(file, good.Replace("Test CPU", "Stale CPU")); // same name, another key: not trusted
        var afterStale = Make(failWithOneDnn: false, cache: dir);
        afterStale.Guard.Ensure([Stem]);
        Assert.Equal(1, afterStale.Check.Calls);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
    }

    [Fact]
    public void The_cache_key_names_the_CPU_model_the_loaded_libtorch_and_every_shape_class()
    {
        var identity = ConvolutionGuard.MachineIdentity();
        Assert.Matches(@"^cpu=.+; cpu flags=[0-9A-F]{12}; libtorch=/.+/libtorch_cpu\.so:\d+:\d+$", identity);
        var key = Make(failWithOneDnn: false).Guard.CacheKey([Stem, Wide]);
        Assert.Contains("cpu=Test CPU", key);
        Assert.Contains(Stem.Key, key);
        Assert.Contains(Wide.Key, key);
    }

    [Fact]
    public void Shape_classes_are_read_from_the_model_modules()
    {
        var cfg = TinyModels.Model() with { Visual = TinyModels.Model().Visual with { WidthPerGroup = 6 } };
        var shapes = ConvolutionShapes.For(cfg);
        Assert.Contains(shapes, s => s.Key == "conv3d 3→6 k5×7×7 s2×2×2 p2×3×3 d1×1×1 g1");     // the visual stem
        Assert.Contains(shapes, s => s.Key == "conv2d 1→2 k9×1 s1×1 p4×0 d1×1 g1");               // the audio stem
        Assert.Contains(shapes, s => s.Key == "conv3d 24→24 k1×3×3 s1×2×2 p0×1×1 d1×1×1 g1"); // stage 3's 1×3×3
        Assert.Equal(shapes.Count, shapes.DistinctBy(s => s.Key).Count());
        // Small inputs: every class's check costs at most the work budget.
        foreach (var s in ConvolutionShapes.For(new ModelConfig()))
        {
            var size = s.CheckInputSize();
            Assert.Equal(2, size[0]);
            Assert.All(size[2..], d => Assert.True(d >= 1));
        }
    }
}

/// <summary>Runs alone: it switches oneDNN off in libtorch's global context, which every running test would feel.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LibTorchSwitchCollection
{
    public const string Name = "libtorch-switches";
}

/// <summary>The real check on this machine, with the convolutions the model runs.</summary>
[Collection(LibTorchSwitchCollection.Name)]
public class ConvolutionCheckTests
{
    /// <summary>Shape classes of the small preset and of CNN widths whose channel counts are above 16 and not a
    /// multiple of 16 (6 → 24, 10 → 40: the classes that oneDNN computes wrongly on some AVX-512 CPUs).</summary>
    static AvBertModel[] Models()
    {
        var small = ConfigLoader.Load("small");
        return new[] { 6, 10, 8 }.Select(w => new AvBertModel(small.Model with
        {
            Visual = small.Model.Visual with { WidthPerGroup = w },
            Audio = small.Model.Audio with { WidthPerGroup = w },
        }, small.Data)).ToArray();
    }

    [Fact]
    public void After_runtime_initialisation_every_convolution_of_the_model_passes_the_known_answer_check()
    {
        // Building a model runs the guard: on a CPU whose oneDNN computes these wrongly it switches to ATen's
        // convolutions; without that, this check fails there.
        var models = Models();
        try
        {
            if (Environment.GetEnvironmentVariable(ConvolutionGuard.ModeVariable) != "off")
                Assert.DoesNotContain("not checked", ConvolutionGuard.Default.Verdict); // the model ran the guard
            var shapes = models.SelectMany(ConvolutionShapes.Of).DistinctBy(s => s.Key).ToList();
            var result = ConvolutionCheck.Run(shapes);
            Assert.True(result.Passed, result.DescribeFailures());
            Assert.True(result.WorstError < 1e-4, $"worst {result.WorstError}");
        }
        finally { foreach (var m in models) m.Dispose(); }
    }

    [Fact]
    public void Switching_oneDNN_off_changes_the_implementation_and_ATen_passes_the_check()
    {
        Assert.True(LibTorchContext.Available);
        Assert.False(LibTorchContext.NnpackEnabled); // TorchRuntime.Initialize turned NNPACK off
        bool before = LibTorchContext.OneDnnEnabled;
        var shape = new ConvShape(24, 24, [3, 3], [1, 1], [1, 1], [1, 1], 1);
        try
        {
            LibTorchContext.OneDnnEnabled = true;
            Assert.True(LibTorchContext.OneDnnEnabled);
            var withOneDnn = Output(shape);
            LibTorchContext.OneDnnEnabled = false;
            Assert.False(LibTorchContext.OneDnnEnabled);
            var withAten = Output(shape);
            Assert.True(ConvolutionCheck.CheckOne(shape).Passed);
            // Another implementation sums in another order: the float32 results differ in the last bits (both are
            // within the check's tolerance of float64 on a good CPU).
            Assert.False(withOneDnn.SequenceEqual(withAten), "oneDNN off gave bit-identical results: the switch did nothing");
            Assert.True(Output(shape).SequenceEqual(withAten));
        }
        finally { LibTorchContext.OneDnnEnabled = before; }
    }

    static float[] Output(ConvShape s)
    {
        var g = new TorchSharp.torch.Generator(5);
        using var x = TorchSharp.torch.randn(s.CheckInputSize(), generator: g);
        using var w = TorchSharp.torch.randn([s.OutChannels, s.InChannels, .. s.Kernel], generator: g);
        using var y = TorchSharp.torch.nn.functional.conv2d(x, w, null, s.Stride, s.Padding, s.Dilation, s.Groups);
        return y.data<float>().ToArray();
    }
}

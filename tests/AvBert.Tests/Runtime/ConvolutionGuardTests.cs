using AvBert.Config;
using AvBert.Model;
using AvBert.Runtime;
using AvBert.Tests.Model;

namespace AvBert.Tests.Runtime;

/// <summary>The CPU convolution self-check's ladder and cache, with injected rung outcomes (fast, no torch work).</summary>
public class ConvolutionGuardTests
{
    const string Machine = "cpu=Test CPU; libtorch=/x/libtorch_cpu.so:1:2";
    static readonly ConvShape Stem = new(3, 24, [5, 7, 7], [2, 2, 2], [2, 3, 3], [1, 1, 1], 1) { Input = [8, 32, 32] };
    static readonly ConvShape Wide = new(24, 24, [3, 3], [1, 1], [1, 1], [1, 1], 1) { Input = [10, 16] };

    sealed class FakeSwitch(bool available = true) : IOneDnnSwitch
    {
        public bool Available { get; } = available;
        public bool Enabled { get; set; } = true;
    }

    /// <summary>Rung outcomes by rung name: "crash" (the child died of SIGFPE on the first class), "wrong" (a class off
    /// by 40 %), anything else passes. Records every call.</summary>
    sealed class FakeProbe(Dictionary<string, string> outcomes)
    {
        public readonly List<(string Rung, int Classes)> Calls = [];
        public ConvRungOutcome Run(ConvRung rung, IReadOnlyList<ConvShape> shapes)
        {
            Calls.Add((rung.Name, shapes.Count));
            return outcomes.GetValueOrDefault(rung.Name) switch
            {
                "crash" => new(rung, false, $"SIGFPE (an arithmetic fault) while checking {shapes[0].Key}", []),
                "wrong" => new(rung, false, $"{shapes[0].Key}: forward off by 40%", shapes.Select(s => new ConvShapeResult(s, "forward", 0.4)).ToList()),
                _ => new(rung, true, "", shapes.Select(s => new ConvShapeResult(s, "forward", 1e-7)).ToList()),
            };
        }
    }

    sealed record Setup(ConvolutionGuard Guard, FakeSwitch Switch, FakeProbe Probe, List<string> Notes, List<string> Caps);

    static Setup Make(Dictionary<string, string>? outcomes = null, string? cache = null, string? mode = null, string machine = Machine,
                      bool switchAvailable = true, string? cap = null, bool capIsOurs = false)
    {
        var sw = new FakeSwitch(switchAvailable);
        var probe = new FakeProbe(outcomes ?? []);
        var notes = new List<string>();
        var caps = new List<string>();
        var guard = new ConvolutionGuard(probe.Run, sw, cache, notes.Add, () => mode, () => machine)
        {
            IsaCap = () => (caps.Count > 0 ? caps[^1] : cap, caps.Count > 0 || capIsOurs),
            SetIsaCap = caps.Add,
        };
        return new Setup(guard, sw, probe, notes, caps);
    }

    [Fact]
    public void A_passing_full_ISA_keeps_oneDNN_uncapped_and_says_nothing()
    {
        var s = Make();
        s.Guard.Ensure([Stem, Wide]);
        Assert.Equal([("full", 2)], s.Probe.Calls);
        Assert.True(s.Switch.Enabled);
        Assert.Empty(s.Caps);
        Assert.Empty(s.Notes);
        Assert.Equal("full", s.Guard.Rung!.Name);
        Assert.StartsWith("oneDNN at the full ISA passed the self-check (2 shape classes at the model's input sizes", s.Guard.Verdict);
    }

    [Fact]
    public void A_crashing_candidate_moves_the_ladder_on_and_the_path_chosen_is_reported_in_one_line()
    {
        var s = Make(new() { ["full"] = "crash", ["AVX2"] = "wrong" });
        s.Guard.Ensure([Stem, Wide]);
        Assert.Equal(["full", "AVX2", "SSE41"], s.Probe.Calls.Select(c => c.Rung));
        Assert.Equal(["SSE41"], s.Caps);            // the cap goes into the environment before the first convolution
        Assert.True(s.Switch.Enabled);
        Assert.Equal("SSE41", s.Guard.Rung!.Name);
        var note = Assert.Single(s.Notes);
        Assert.DoesNotContain('\n', note);
        Assert.Contains("oneDNN at the full ISA: SIGFPE", note);
        Assert.Contains("oneDNN capped at AVX2: conv2d 24→24", note);
        Assert.EndsWith("using oneDNN capped at SSE41 (checked)", note);
        Assert.StartsWith("oneDNN capped at SSE41 passed the self-check", s.Guard.Verdict);
    }

    [Fact]
    public void When_every_cap_fails_oneDNN_is_switched_off_and_when_that_fails_too_it_stops_with_one_line()
    {
        var s = Make(new() { ["full"] = "crash", ["AVX2"] = "crash", ["SSE41"] = "wrong" });
        s.Guard.Ensure([Stem]);
        Assert.False(s.Switch.Enabled);
        Assert.True(s.Guard.UsingAtenConvolutions);
        Assert.Empty(s.Caps);

        var all = Make(new() { ["full"] = "crash", ["AVX2"] = "crash", ["SSE41"] = "crash", ["off"] = "wrong" });
        var e = Assert.Throws<ConvolutionCheckFailed>(() => all.Guard.Ensure([Stem, Wide]));
        Assert.Contains("no convolution path of this CPU passed", e.Message);
        Assert.Contains("oneDNN off (ATen's convolutions): conv2d 24→24", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal(ExitCodes.UserError, e.ExitCode);

        var noSwitch = Make(new() { ["full"] = "crash", ["AVX2"] = "crash", ["SSE41"] = "crash" }, switchAvailable: false);
        Assert.Throws<ConvolutionCheckFailed>(() => noSwitch.Guard.Ensure([Stem]));
        Assert.DoesNotContain(noSwitch.Probe.Calls, c => c.Rung == "off"); // oneDNN cannot be switched off: not tried
    }

    [Fact]
    public void A_lower_cap_needed_after_convolutions_ran_uses_oneDNN_off_now_and_starts_the_next_run_on_the_cap()
    {
        var outcomes = new Dictionary<string, string>();
        var dir = TestSetup.TempDir("conv-late");
        var s = Make(outcomes, cache: dir);
        s.Guard.Ensure([Wide]);                      // passes on the full ISA; the model then runs its convolutions
        outcomes["full"] = "crash";                  // a later model's classes crash the full ISA
        s.Guard.Ensure([Stem]);
        Assert.Equal(["full", "full", "AVX2", "off"], s.Probe.Calls.Select(c => c.Rung));
        Assert.Equal(2, s.Probe.Calls[2].Classes);   // the lower rung proves every class the process uses
        Assert.Empty(s.Caps);                        // too late for a cap in this process
        Assert.False(s.Switch.Enabled);
        Assert.EndsWith("the next run starts on oneDNN capped at AVX2", Assert.Single(s.Notes));
        Assert.Equal("AVX2", ConvolutionGuard.RememberedRung(dir, Machine)!.Name);
    }

    [Fact]
    public void Classes_already_checked_in_this_process_are_not_checked_again()
    {
        var s = Make();
        s.Guard.Ensure([Stem, Wide]);
        s.Guard.Ensure([Wide, Stem, Wide]);
        Assert.Single(s.Probe.Calls);
    }

    [Fact]
    public void Off_skips_the_check_and_a_bad_value_is_a_user_error()
    {
        var off = Make(new() { ["full"] = "crash" }, mode: "off");
        off.Guard.Ensure([Stem]);
        Assert.Empty(off.Probe.Calls);
        Assert.True(off.Switch.Enabled);
        Assert.Equal("not checked (AVBERT_CONV_CHECK=off)", off.Guard.Verdict);

        var e = Assert.Throws<UserError>(() => Make(mode: "sometimes").Guard.Ensure([Stem]));
        Assert.Contains("AVBERT_CONV_CHECK=sometimes", e.Message);
    }

    [Fact]
    public void A_cached_verdict_is_reused_for_the_same_machine_libtorch_and_shapes_and_the_rung_is_remembered()
    {
        var dir = TestSetup.TempDir("conv-cache");
        var crash = new Dictionary<string, string> { ["full"] = "crash" };
        var first = Make(crash, cache: dir);
        first.Guard.Ensure([Stem, Wide]);
        Assert.Equal("AVX2", ConvolutionGuard.RememberedRung(dir, Machine)!.Name);
        Assert.Null(ConvolutionGuard.RememberedRung(dir, "cpu=Other CPU; libtorch=/x/libtorch_cpu.so:1:2"));

        var second = Make(crash, cache: dir);        // a new process on the same machine that starts uncapped
        second.Guard.Ensure([Wide, Stem]);
        Assert.Empty(second.Probe.Calls);            // the cached verdict applies the cap without checking again
        Assert.Equal(["AVX2"], second.Caps);
        Assert.EndsWith("using oneDNN capped at AVX2 (checked, cached)", Assert.Single(second.Notes));

        var capped = Make(crash, cache: dir, cap: "AVX2", capIsOurs: true); // a process that started on the remembered cap
        capped.Guard.Ensure([Stem, Wide]);
        Assert.Equal([("AVX2", 2)], capped.Probe.Calls); // the starting rung is part of the key: checked afresh, on the cap
        Assert.Empty(capped.Notes);

        var other = Make(cache: dir, machine: "cpu=Other CPU; libtorch=/x/libtorch_cpu.so:1:2");
        other.Guard.Ensure([Stem, Wide]);
        Assert.Single(other.Probe.Calls);            // another CPU model or libtorch: checked again

        var otherShapes = Make(crash, cache: dir);
        otherShapes.Guard.Ensure([Stem with { Input = [8, 40, 40] }]);
        Assert.Equal(2, otherShapes.Probe.Calls.Count); // another input size is another class

        var forced = Make(crash, cache: dir, mode: "force");
        forced.Guard.Ensure([Stem, Wide]);
        Assert.Equal(2, forced.Probe.Calls.Count);   // force ignores the cache
    }

    [Fact]
    public void A_cap_the_user_set_is_the_first_rung_and_is_never_remembered()
    {
        var dir = TestSetup.TempDir("conv-user");
        var s = Make(new() { ["AVX2"] = "crash" }, cache: dir, cap: "AVX2");
        s.Guard.Ensure([Stem]);
        Assert.Equal(["AVX2", "SSE41"], s.Probe.Calls.Select(c => c.Rung));
        Assert.Contains("oneDNN capped at AVX2 (your ONEDNN_MAX_CPU_ISA): SIGFPE", Assert.Single(s.Notes));
        Assert.Equal("SSE41", ConvolutionGuard.RememberedRung(dir, Machine)!.Name); // the rung below it is ours

        var kept = Make(cache: TestSetup.TempDir("conv-user2"), cap: "AVX2");
        kept.Guard.Ensure([Stem]);
        Assert.Empty(kept.Caps);
        Assert.Empty(Directory.GetFiles(kept.Guard.CacheDirectory!, "rung-*"));
        Assert.StartsWith("oneDNN capped at AVX2 (your ONEDNN_MAX_CPU_ISA) passed", kept.Guard.Verdict);
    }

    [Fact]
    public void A_corrupt_or_foreign_cache_file_is_checked_again_and_rewritten()
    {
        var dir = TestSetup.TempDir("conv-cache-bad");
        Make(cache: dir).Guard.Ensure([Stem]);
        var file = Assert.Single(Directory.GetFiles(dir, "*.json"));
        var good = File.ReadAllText(file);

        File.WriteAllText(file, "{\"Key\": \"trunc");
        var afterCorrupt = Make(cache: dir);
        afterCorrupt.Guard.Ensure([Stem]);
        Assert.Single(afterCorrupt.Probe.Calls);
        Assert.Equal(good, File.ReadAllText(file));

        File.WriteAllText(file, good.Replace("Test CPU", "Stale CPU")); // same name, another key: not trusted
        var afterStale = Make(cache: dir);
        afterStale.Guard.Ensure([Stem]);
        Assert.Single(afterStale.Probe.Calls);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
    }

    [Fact]
    public void The_cache_key_names_the_CPU_model_the_loaded_libtorch_the_starting_rung_and_every_shape_class_with_its_input()
    {
        var identity = ConvolutionGuard.MachineIdentity();
        Assert.Matches(@"^cpu=.+; cpu flags=[0-9A-F]{12}; libtorch=/.+/libtorch_cpu\.so:\d+:\d+$", identity);
        var key = Make().Guard.CacheKey([Stem, Wide]);
        Assert.Contains("cpu=Test CPU", key);
        Assert.Contains("start=full", key);
        Assert.Contains("conv3d 3→24 k5×7×7 s2×2×2 p2×3×3 d1×1×1 g1 at 8×32×32", key);
        Assert.Contains(Wide.Key, key);
    }

    [Fact]
    public void Shape_classes_carry_the_input_size_each_convolution_sees_at_the_model_geometry()
    {
        var cfg = TinyModels.Model() with { Visual = TinyModels.Model().Visual with { WidthPerGroup = 6 } };
        var data = TinyModels.Data; // 4 frames, 16² crops, 16×16 log-mel
        var shapes = ConvolutionShapes.For(cfg, data);
        Assert.Contains(shapes, s => s.Key == "conv3d 3→6 k5×7×7 s2×2×2 p2×3×3 d1×1×1 g1 at 4×16×16");  // the visual stem, on the clip
        Assert.Contains(shapes, s => s.Key == "conv2d 1→2 k9×1 s1×1 p4×0 d1×1 g1 at 16×16");            // the audio stem, on the log-mel
        Assert.Contains(shapes, s => s.Key == "conv3d 6→6 k1×3×3 s1×1×1 p0×1×1 d1×1×1 g1 at 2×4×4");     // stage 1, after stem and max-pool
        Assert.Equal(shapes.Count, shapes.DistinctBy(s => s.Key).Count());
        Assert.All(shapes, s => Assert.NotNull(s.Input));
        // The paper's geometry: the audio CNN's last stride-2 1×1 (the class that crashed oneDNN on a cache-less VM) at 10×16.
        var full = ConvolutionShapes.For(new ModelConfig(), new DataConfig());
        Assert.Contains(full, s => s.Key == "conv2d 512→1024 k1×1 s2×2 p0×0 d1×1 g1 at 10×16");
        Assert.Contains(full, s => s.Key == "conv3d 3→64 k5×7×7 s2×2×2 p2×3×3 d1×1×1 g1 at 32×128×128"); // the test crop too
        var stemCheck = full.First(s => s.Key.StartsWith("conv3d 3→64 k5×7×7") && s.Input![1] == 112).CheckInputSize();
        Assert.Equal([2L, 3, 5, 112, 112], stemCheck); // real spatial size; depth cut to cover the temporal kernel twice per stride
    }

    [Fact]
    public void The_ladder_from_each_rung_goes_down_and_ends_with_oneDNN_off()
    {
        Assert.Equal(["AVX2", "SSE41", "off"], ConvRung.Full.Below().Select(r => r.Name));
        Assert.Equal(["SSE41", "off"], new ConvRung("AVX2", true).Below().Select(r => r.Name));
        Assert.Equal(["off"], new ConvRung("AVX512_CORE_VNNI", true, Users: true).Below().Select(r => r.Name));
        Assert.Empty(ConvRung.Off.Below());
    }
}

/// <summary>The child process of the self-check, for real: a candidate that dies of a signal is a failed rung, not a dead command.</summary>
public class ConvolutionProbeTests
{
    static readonly ConvShape Small = new(8, 8, [3, 3], [1, 1], [1, 1], [1, 1], 1) { Input = [12, 12] };

    [Fact]
    public void A_child_that_dies_of_SIGFPE_is_a_failed_rung_naming_the_signal_and_the_class()
    {
        var crashed = ConvolutionProbe.Check(ConvRung.Full, [Small], new() { [ConvolutionProbe.CrashVariable] = "8" });
        Assert.False(crashed.Passed);
        Assert.True(crashed.Detail.StartsWith("SIGFPE", StringComparison.Ordinal), crashed.Detail); // the whole detail when it fails

        var fine = ConvolutionProbe.Check(ConvRung.Off, [Small]);
        Assert.True(fine.Passed, fine.Detail);
        Assert.Equal(Small.Key, Assert.Single(fine.Results).Shape.Key);
        Assert.True(fine.WorstError < 1e-4);
    }

    [Fact]
    public void A_child_that_fails_before_checking_is_tried_once_more_and_then_says_both_failures()
    {
        var failed = ConvolutionProbe.Check(ConvRung.Off, [Small], new() { [ConvolutionProbe.CrashVariable] = "error" });
        Assert.False(failed.Passed);
        Assert.StartsWith("the check could not start: error: internal error: InvalidOperationException: the child failed before checking anything", failed.Detail);
        Assert.Contains("(twice; first: the check could not start: ", failed.Detail);
        Assert.Empty(failed.Results);
    }

    [Fact]
    public void A_guard_whose_first_candidate_crashes_for_real_moves_on_to_the_next()
    {
        var caps = new List<string>();
        var sw = new FakeSwitchForProbe();
        // The full ISA's child crashes (simulated inside the real child process); the next rung runs the real check.
        var guard = new ConvolutionGuard((rung, shapes) => ConvolutionProbe.Check(rung, shapes,
                rung.Name == "full" ? new() { [ConvolutionProbe.CrashVariable] = "11" } : null),
            sw, null, _ => { }, () => null, () => "cpu=Test") { IsaCap = () => (null, false), SetIsaCap = caps.Add };
        guard.Ensure([Small]);
        Assert.Equal("AVX2", guard.Rung!.Name);
        Assert.Equal(["AVX2"], caps);
        Assert.Contains("oneDNN at the full ISA: SIGSEGV", guard.Verdict);
    }

    sealed class FakeSwitchForProbe : IOneDnnSwitch
    {
        public bool Available => true;
        public bool Enabled { get; set; } = true;
    }

    /// <summary>The paper-size model's convolution classes (full widths, batch 2, the real crop and log-mel sizes) through
    /// the same ladder of child processes a user's command walks: a CPU that cannot run the full model fails here.</summary>
    [Fact]
    public void The_paper_size_geometry_passes_on_some_rung_of_the_ladder_on_this_CPU()
    {
        var full = ConvolutionShapes.For(new ModelConfig(), new DataConfig());
        var caps = new List<string>();
        var sw = new FakeSwitchForProbe();
        var guard = new ConvolutionGuard((rung, shapes) => ConvolutionProbe.Check(rung, shapes), sw, null, _ => { }, () => "force", () => "cpu=Test")
            { IsaCap = () => (null, false), SetIsaCap = caps.Add };
        guard.Ensure(full);                          // throws ConvolutionCheckFailed if no rung passes
        Assert.NotNull(guard.Rung);
        Assert.Contains("passed the self-check", guard.Verdict);
        Assert.Contains($"{full.Count} shape classes", guard.Verdict);
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
    /// <summary>The small preset and CNN widths whose channel counts are above 16 and not a multiple of 16 (6 → 24,
    /// 10 → 40: the classes that oneDNN computes wrongly on some AVX-512 CPUs), at the small preset's clip sizes.</summary>
    static List<ConvShape> Shapes()
    {
        var small = ConfigLoader.Load("small");
        return new[] { 6, 10, 8 }.SelectMany(w => ConvolutionShapes.For(small.Model with
        {
            Visual = small.Model.Visual with { WidthPerGroup = w },
            Audio = small.Model.Audio with { WidthPerGroup = w },
        }, small.Data)).DistinctBy(s => s.Key).ToList();
    }

    [Fact]
    public void On_the_path_the_guard_chose_every_convolution_of_the_model_passes_the_known_answer_check_in_this_process()
    {
        // The guard proves the classes in child processes and moves this process to the first rung that passed (on a CPU
        // whose full-ISA oneDNN computes these wrongly: a cap, or oneDNN off); without that, this in-process check fails there.
        var shapes = Shapes();
        ConvolutionGuard.Default.Ensure(shapes);
        if (Environment.GetEnvironmentVariable(ConvolutionGuard.ModeVariable) != "off")
            Assert.DoesNotContain("not checked", ConvolutionGuard.Default.Verdict);
        var result = ConvolutionCheck.Run(shapes);
        Assert.True(result.Passed, result.DescribeFailures());
        Assert.True(result.WorstError < 1e-4, $"worst {result.WorstError}");
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

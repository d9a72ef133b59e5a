using YamlDotNet.Serialization;

namespace AvBert.Config;

/// <summary>The four evaluation tasks of SPEC §8, named after what they train on.</summary>
public enum DownstreamTask
{
    /// <summary>UCF101 protocol: visual CNN only, one clip per sample.</summary>
    Visual,
    /// <summary>ESC-50 protocol: audio CNN only, fixed-length windows.</summary>
    Audio,
    /// <summary>Kinetics-Sounds protocol: the whole model on clip sequences, clip head + sequence head.</summary>
    Audiovisual,
    /// <summary>Charades-style: the whole model, several labels per video, BCE, mAP.</summary>
    Multilabel,
}

/// <summary>Linear evaluation (backbone frozen, in eval mode, only the head trains) or fine-tuning (everything trains).</summary>
public enum TransferProtocol { Linear, Finetune }

public enum ClassificationLoss { CrossEntropy, MultiMargin, BinaryCrossEntropy }

/// <summary>How test-time view predictions become one video prediction: sum (mean) of probabilities, or their maximum.</summary>
public enum ViewEnsemble { Sum, Max }

/// <summary>
/// One task's protocol: what trains, with what loss, for how long, and how it is tested. Each task of
/// <see cref="DownstreamConfig"/> has its own section whose defaults are the reference's numbers (SPEC §8).
/// </summary>
public sealed record TaskProtocolConfig
{
    public TransferProtocol Protocol { get; init; } = TransferProtocol.Finetune;
    public ClassificationLoss Loss { get; init; } = ClassificationLoss.CrossEntropy;
    /// <summary>Margin of the multi-margin loss.</summary>
    public double Margin { get; init; } = 0.1;
    /// <summary>Learning rate of the new head(s) (the reference's BASE_LR).</summary>
    public double HeadLr { get; init; } = 3e-2;
    /// <summary>Learning rate of the pretrained backbone when fine-tuning (the reference's FINETUNE_LR).</summary>
    public double BackboneLr { get; init; } = 1e-4;
    public int Epochs { get; init; } = 20;
    /// <summary>Learning-rate policy over the whole run (per optimiser step), after an optional linear warm-up.</summary>
    public LrScheduleKind Schedule { get; init; } = LrScheduleKind.Cosine;
    public double WarmupEpochs { get; init; } = 0;
    public int BatchSize { get; init; } = 32;
    /// <summary>Dropout before each head's projection(s).</summary>
    public double Dropout { get; init; } = 0.5;
    /// <summary>Training samples drawn from each video per epoch (visual: random clips; audio: fixed windows; sequences: 1).</summary>
    public int TrainSamplesPerVideo { get; init; } = 10;
    /// <summary>Test-time temporal views per video: clips (visual), windows (audio), the clips of the one test sequence
    /// (audiovisual, multilabel; the reference's TEST.NUM_ENSEMBLE_VIEWS, 10, equal to its sequence length).</summary>
    public int TestClips { get; init; } = 10;
    /// <summary>Test-time spatial crops per temporal view (1 for audio).</summary>
    public int TestCrops { get; init; } = 3;
    public ViewEnsemble Ensemble { get; init; } = ViewEnsemble.Sum;
    /// <summary>Audio window length in seconds for the audio task; 0 = the visual-aligned clip window (data.* geometry).</summary>
    public double WindowSeconds { get; init; } = 0;
}

/// <summary>Downstream transfer (SPEC §8): the task, the shared optimiser settings and one protocol section per task.</summary>
public sealed record DownstreamConfig
{
    public DownstreamTask Task { get; init; } = DownstreamTask.Visual;
    /// <summary>Class names in label order; written by `finetune` into the run's config.yaml (empty before).</summary>
    public string[] ClassNames { get; init; } = [];

    // Optimiser (reference: Adam, betas (0.9, 0.999), eps 1e-6; weight decay 5e-6, none on BN/norms/biases; two groups).
    public double WeightDecay { get; init; } = 5e-6;
    public double AdamEps { get; init; } = 1e-6;
    public double[] AdamBetas { get; init; } = [0.9, 0.999];
    /// <summary>Max gradient norm; 0 disables clipping (the reference does not clip).</summary>
    public double GradClip { get; init; } = 0;
    /// <summary>Std of the normal init of head projections (the reference's FC_INIT_STD); biases start at 0.</summary>
    public double FcInitStd { get; init; } = 0.01;
    /// <summary>LayerNorm eps inside the sequence head.</summary>
    public double HeadLayerNormEps { get; init; } = 1e-5;
    public int Seed { get; init; } = 0;
    /// <summary>Evaluate on the held-out split every this many epochs (0: only at the end).</summary>
    public int EvalEvery { get; init; } = 0;
    /// <summary>Optimiser steps between progress/metrics log lines.</summary>
    public int LogEvery { get; init; } = 10;

    /// <summary>UCF101: visual CNN fine-tuned, CE, lr 1e-4 backbone / 3e-2 head, cosine, 20 epochs, 10 clips × 3 crops.</summary>
    public TaskProtocolConfig Visual { get; init; } = new();

    /// <summary>ESC-50: frozen audio CNN, linear head, multi-margin (0.1), lr 3e-3 (linear decay), 300 epochs, 2 s windows, 10 per file.</summary>
    public TaskProtocolConfig Audio { get; init; } = new()
    {
        Protocol = TransferProtocol.Linear, Loss = ClassificationLoss.MultiMargin, HeadLr = 3e-3,
        Epochs = 300, Schedule = LrScheduleKind.Linear, BatchSize = 128, Dropout = 0.1, TestCrops = 1, WindowSeconds = 2,
    };

    /// <summary>Kinetics-Sounds: whole model fine-tuned, CE on a clip head + a sequence head, lr 1e-4 / 1e-3, cosine, 20 epochs, tested on a 10-clip sequence × 3 crops.</summary>
    public TaskProtocolConfig Audiovisual { get; init; } = new()
    {
        HeadLr = 1e-3, BatchSize = 5, TrainSamplesPerVideo = 1,
    };

    /// <summary>Charades-style [ours]: as audiovisual, BCE per class, views combined by max (no reference code).</summary>
    public TaskProtocolConfig Multilabel { get; init; } = new()
    {
        Loss = ClassificationLoss.BinaryCrossEntropy, HeadLr = 1e-3, BatchSize = 5, TrainSamplesPerVideo = 1, Ensemble = ViewEnsemble.Max,
    };

    /// <summary>The section of the selected task.</summary>
    [YamlIgnore]
    public TaskProtocolConfig Current => For(Task);

    public TaskProtocolConfig For(DownstreamTask task) => task switch
    {
        DownstreamTask.Visual => Visual,
        DownstreamTask.Audio => Audio,
        DownstreamTask.Audiovisual => Audiovisual,
        DownstreamTask.Multilabel => Multilabel,
        _ => throw new ArgumentOutOfRangeException(nameof(task)),
    };

    /// <summary>A copy with the selected task's section replaced.</summary>
    public DownstreamConfig With(DownstreamTask task, TaskProtocolConfig section) => task switch
    {
        DownstreamTask.Visual => this with { Visual = section },
        DownstreamTask.Audio => this with { Audio = section },
        DownstreamTask.Audiovisual => this with { Audiovisual = section },
        DownstreamTask.Multilabel => this with { Multilabel = section },
        _ => throw new ArgumentOutOfRangeException(nameof(task)),
    };

    /// <summary>Tasks that read whole clip sequences through the Transformers (clip head + sequence head).</summary>
    [YamlIgnore]
    public bool UsesSequences => Task is DownstreamTask.Audiovisual or DownstreamTask.Multilabel;
}

/// <summary>Checks of the downstream section, run by <see cref="ConfigValidator"/> (it reads the model's max_positions).</summary>
static class DownstreamConfigChecks
{
    internal static void Check(DownstreamConfig d, ModelConfig model, ConfigValidator.Checker check)
    {
        check(d.WeightDecay >= 0, "downstream.weight_decay", d.WeightDecay, "must be >= 0");
        check(d.AdamEps > 0, "downstream.adam_eps", d.AdamEps, "must be > 0");
        check(d.AdamBetas.Length == 2 && d.AdamBetas.All(b => b is >= 0 and < 1), "downstream.adam_betas", d.AdamBetas, "must be [beta1, beta2] in [0, 1)");
        check(d.GradClip >= 0, "downstream.grad_clip", d.GradClip, "must be >= 0 (0 disables)");
        check(d.FcInitStd > 0, "downstream.fc_init_std", d.FcInitStd, "must be > 0");
        check(d.EvalEvery >= 0, "downstream.eval_every", d.EvalEvery, "must be >= 0 (0: only at the end)");
        check(d.LogEvery >= 1, "downstream.log_every", d.LogEvery, "must be >= 1");
        check(d.ClassNames.Distinct().Count() == d.ClassNames.Length, "downstream.class_names", d.ClassNames, "must not repeat a name");
        foreach (var task in Enum.GetValues<DownstreamTask>())
        {
            var t = d.For(task);
            var p = "downstream." + task.ToString().ToLowerInvariant();
            check(t.HeadLr >= 0, p + ".head_lr", t.HeadLr, "must be >= 0");
            check(t.BackboneLr >= 0, p + ".backbone_lr", t.BackboneLr, "must be >= 0");
            check(t.Epochs >= 1, p + ".epochs", t.Epochs, "must be >= 1");
            check(t.WarmupEpochs >= 0 && t.WarmupEpochs <= t.Epochs, p + ".warmup_epochs", t.WarmupEpochs, $"must be in [0, epochs ({t.Epochs})]");
            check(t.BatchSize >= 1, p + ".batch_size", t.BatchSize, "must be >= 1");
            check(t.Dropout is >= 0 and < 1, p + ".dropout", t.Dropout, "must be in [0, 1)");
            check(t.Margin > 0, p + ".margin", t.Margin, "must be > 0");
            check(t.TrainSamplesPerVideo >= 1, p + ".train_samples_per_video", t.TrainSamplesPerVideo, "must be >= 1");
            check(t.TestClips >= 1, p + ".test_clips", t.TestClips, "must be >= 1");
            check(t.TestCrops is >= 1 and <= 3, p + ".test_crops", t.TestCrops, "must be 1, 2 or 3 (centre; or left/top, centre, right/bottom)");
            check(t.WindowSeconds >= 0, p + ".window_seconds", t.WindowSeconds, "must be >= 0 (0: the visual-aligned clip window)");
            if (task == d.Task && d.UsesSequences)
                check(t.TestClips + 1 <= model.Transformer.MaxPositions, p + ".test_clips", t.TestClips,
                      $"must be at most model.transformer.max_positions - 1 ({model.Transformer.MaxPositions - 1}): the test sequence's clips plus BOS need a position each");
            bool multi = task == DownstreamTask.Multilabel;
            check(multi == (t.Loss == ClassificationLoss.BinaryCrossEntropy), p + ".loss",
                YamlDotNet.Serialization.NamingConventions.UnderscoredNamingConvention.Instance.Apply(t.Loss.ToString()),
                multi ? "must be binary_cross_entropy for multi-label classification"
                      : "must be cross_entropy or multi_margin for single-label classification (binary_cross_entropy is the multilabel task's)");
        }
    }
}

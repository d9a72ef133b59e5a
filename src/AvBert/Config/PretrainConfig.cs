namespace AvBert.Config;

/// <summary>
/// Self-supervised pretraining (SPEC §7). [paper] numbers are defaults where the paper states them; every [ours]
/// choice is an option here with the SPEC default. Data sizes (clips per video, clip geometry) live in <see cref="DataConfig"/>.
/// </summary>
public sealed record PretrainConfig
{
    // ---- Masked embedding prediction (MEP) ----
    /// <summary>[ours] Fraction of positions masked per sequence and modality: max(1, round(mask_prob·T)) positions.</summary>
    public double MaskProb { get; init; } = 0.15;
    /// <summary>[ours] BERT rule: of the masked positions, this fraction is replaced by the learned mask vector...</summary>
    public double MaskTokenFraction { get; init; } = 0.8;
    /// <summary>[ours] ...this fraction by a random other embedding of the minibatch (same modality); the rest stay unchanged.</summary>
    public double MaskRandomFraction { get; init; } = 0.1;
    /// <summary>[ours] Negatives per masked position (K). The positive is always in the denominator as well.</summary>
    public int Negatives { get; init; } = 16;
    /// <summary>Negative sampling strategy (SPEC §7); CANS-Similar is the paper's best.</summary>
    public NegativeSampling Sampler { get; init; } = NegativeSampling.CansSimilar;
    /// <summary>[ours] CANS drops candidates whose normalised distance is outside mean ± this many standard deviations (1.96: the 95% interval).</summary>
    public double CansIntervalSigma { get; init; } = 1.96;
    /// <summary>[ours] Output streams that get an MEP loss (a stream missing for the fusion mode is skipped).</summary>
    public MepStream[] MepStreams { get; init; } = [MepStream.Visual, MepStream.Audio, MepStream.Multimodal];
    /// <summary>[ours] How the per-stream MEP losses combine into L_MEP.</summary>
    public LossReduction MepReduction { get; init; } = LossReduction.Sum;
    /// <summary>[ours] One MEP head (g and W) for all streams instead of one per stream.</summary>
    public bool ShareMepHeads { get; init; } = false;
    /// <summary>
    /// [ours] The MEP score: dot = the paper's g(o)ᵀWx; cosine = the same with g(o)ᵀW and every x scaled to unit length,
    /// divided by <see cref="MepTemperature"/> (better conditioned when the CNN embeddings start out nearly alike).
    /// </summary>
    public MepScore MepScore { get; init; } = MepScore.Dot;
    /// <summary>[ours] Temperature of the cosine MEP score (ignored for dot).</summary>
    public double MepTemperature { get; init; } = 0.1;
    /// <summary>
    /// [ours] Stop gradients through the MEP targets and negatives (the paper's targets are not detached: the CNNs learn
    /// through them). When true the CNNs learn only through the Transformers' inputs.
    /// </summary>
    public bool DetachMepTargets { get; init; } = false;

    // ---- Correct pair prediction (CPP) ----
    /// <summary>[ours] Fraction of the batch whose audio sequence is replaced by another video's (a derangement within that part). 0 disables CPP.</summary>
    public double CppFraction { get; init; } = 0.5;
    /// <summary>[ours] CPP head input: concatenation or sum of the visual and audio BOS outputs.</summary>
    public CppInput CppInput { get; init; } = CppInput.Concat;
    /// <summary>
    /// [ours] What the CPP head reads of each modality: bos = the BOS outputs (SPEC), mean = the clip outputs averaged.
    /// At initialisation the BOS outputs are almost the same for every video (their fixed embeddings dominate), so CPP
    /// learns slowly from them; the clip outputs carry the content from the first step.
    /// </summary>
    public CppPooling CppPooling { get; init; } = CppPooling.Bos;
    /// <summary>
    /// [ours] Whether the CPP head reads the masked forward pass (true: one pass serves MEP and CPP) or a second pass of the
    /// Transformers over the unmasked embeddings (false: CPP sees every clip; the CNNs still run once).
    /// </summary>
    public bool CppMasked { get; init; } = true;
    /// <summary>
    /// [ours] Extra pairs per video for CPP, scored by the Transformers and the head only (the CNNs run once): video b is
    /// also paired with the audio sequences of the K videos before it in the batch (at most B−1), so CPP sees (1+K)·B
    /// pairs a step instead of B. Positives and negatives weigh half of L_CPP each. 0 = the paper's one pair per video.
    /// </summary>
    public int CppExtraPairs { get; init; } = 0;
    /// <summary>
    /// [ours] In a data-parallel job: draw the MEP negatives (every sampler, CANS included) and the CPP partners from the
    /// <b>global</b> batch, as one process on the whole batch would, instead of each rank's own videos (docs/scaling-out.md).
    /// The ranks gather the clip embeddings (an all-reduce of B·T·D values per stream and step) and send the gradients back
    /// to the rank that computed them. No effect in a single process.
    /// </summary>
    public bool SampleAcrossRanks { get; init; } = false;
    /// <summary>Weight of L_CPP in the total loss (paper: L = L_MEP + L_CPP).</summary>
    public double CppWeight { get; init; } = 1.0;

    // ---- Optimisation ([paper]: AdamW + AMSGrad, β=(0.9, 0.98), weight decay 1e-4, batch 256, 220K iterations) ----
    /// <summary>Videos per optimiser step (the effective batch: batch_size = micro-batch × accumulation).</summary>
    public int BatchSize { get; init; } = 256;
    /// <summary>Micro-batches per optimiser step (gradient accumulation); batch_size must divide by it.</summary>
    public int Accumulation { get; init; } = 1;
    public int Steps { get; init; } = 220_000;
    /// <summary>[ours] Peak learning rate.</summary>
    public double Lr { get; init; } = 1e-4;
    public double[] Betas { get; init; } = [0.9, 0.98];
    public double Eps { get; init; } = 1e-8;
    /// <summary>Decoupled weight decay; not applied to biases, norms and other 1-D parameters.</summary>
    public double WeightDecay { get; init; } = 1e-4;
    public bool Amsgrad { get; init; } = true;
    /// <summary>[ours] Linear warm-up steps, then <see cref="Schedule"/> decay to zero at <see cref="Steps"/>.</summary>
    public int WarmupSteps { get; init; } = 10_000;
    public LrScheduleKind Schedule { get; init; } = LrScheduleKind.Linear;
    /// <summary>[ours] Global gradient-norm clip; 0 disables.</summary>
    public double GradClip { get; init; } = 1.0;
    /// <summary>Deprecated: the old home of <see cref="TrainConfig.Precision"/> (train.precision), still read when that one is auto.</summary>
    public Precision Precision { get; init; } = Precision.Auto;

    // ---- Run bookkeeping ----
    public int Seed { get; init; } = 0;
    public int LogEvery { get; init; } = 10;
    public int CheckpointEvery { get; init; } = 1000;
    /// <summary>Most recent checkpoints kept on disk (older ones are deleted).</summary>
    public int KeepCheckpoints { get; init; } = 2;
}

/// <summary>
/// Negative sampling for MEP (SPEC §7). In YAML: cans_similar, cans_dissimilar, current_sequence, current_minibatch.
/// </summary>
public enum NegativeSampling
{
    /// <summary>CANS, p ∝ 1 − d: prefers candidates near the anchor (paper's best).</summary>
    CansSimilar,
    /// <summary>CANS, p ∝ d: prefers candidates far from the anchor.</summary>
    CansDissimilar,
    /// <summary>Other steps of the anchor's own sequence.</summary>
    CurrentSequence,
    /// <summary>Uniform over every other embedding of the minibatch.</summary>
    CurrentMinibatch,
}

public enum MepStream { Visual, Audio, Multimodal }

/// <summary>How MEP scores a (context output, target) pair. In YAML: dot, cosine.</summary>
public enum MepScore { Dot, Cosine }

public enum LossReduction { Sum, Mean }

public enum CppInput { Concat, Sum }

/// <summary>
/// Which outputs the CPP head reads. In YAML: bos, mean, clips (each clip position's visual and audio outputs as one pair,
/// the pair logits averaged: the head sees which sound goes with which moment).
/// </summary>
public enum CppPooling { Bos, Mean, Clips }

/// <summary>Training and evaluation arithmetic (<see cref="TrainConfig.Precision"/>). In YAML: auto, fp32, tf32, bf16, fp16.</summary>
public enum Precision { Auto, Fp32, Tf32, Bf16, Fp16 }

public enum LrScheduleKind { Linear, Cosine, Constant }

/// <summary>Checks of the pretrain section, run by <see cref="ConfigValidator"/> (it reads train.precision).</summary>
static class PretrainConfigChecks
{
    internal static void Check(PretrainConfig p, TrainConfig train, ConfigValidator.Checker check)
    {
        check(p.MaskProb is > 0 and <= 1, "pretrain.mask_prob", p.MaskProb, "must be in (0, 1]");
        check(p.MaskTokenFraction >= 0 && p.MaskRandomFraction >= 0 && p.MaskTokenFraction + p.MaskRandomFraction <= 1,
            "pretrain.mask_token_fraction", p.MaskTokenFraction, $"and pretrain.mask_random_fraction ({p.MaskRandomFraction}) must be >= 0 and sum to at most 1");
        check(p.Negatives >= 1, "pretrain.negatives", p.Negatives, "must be >= 1");
        check(p.MepTemperature > 0, "pretrain.mep_temperature", p.MepTemperature, "must be > 0");
        check(p.CansIntervalSigma > 0, "pretrain.cans_interval_sigma", p.CansIntervalSigma, "must be > 0");
        check(p.MepStreams.Length > 0 || p.CppFraction > 0, "pretrain.mep_streams", p.MepStreams, "must name at least one stream (visual, audio, multimodal) unless CPP is on");
        check(p.MepStreams.Distinct().Count() == p.MepStreams.Length, "pretrain.mep_streams", p.MepStreams, "must not repeat a stream");
        check(p.CppFraction is >= 0 and <= 1, "pretrain.cpp_fraction", p.CppFraction, "must be in [0, 1]");
        check(p.CppWeight >= 0, "pretrain.cpp_weight", p.CppWeight, "must be >= 0");
        check(p.CppExtraPairs >= 0, "pretrain.cpp_extra_pairs", p.CppExtraPairs, "must be >= 0 (0 = one pair per video)");
        check(p.BatchSize >= 1, "pretrain.batch_size", p.BatchSize, "must be >= 1");
        check(p.Accumulation >= 1 && p.BatchSize % p.Accumulation == 0, "pretrain.accumulation", p.Accumulation,
            $"must be >= 1 and divide pretrain.batch_size ({p.BatchSize})");
        check(p.Steps >= 1, "pretrain.steps", p.Steps, "must be >= 1");
        check(p.Lr > 0, "pretrain.lr", p.Lr, "must be > 0");
        check(p.Betas.Length == 2 && p.Betas.All(b => b is >= 0 and < 1), "pretrain.betas", p.Betas, "must be [beta1, beta2], each in [0, 1)");
        check(p.Eps > 0, "pretrain.eps", p.Eps, "must be > 0");
        check(p.WeightDecay >= 0, "pretrain.weight_decay", p.WeightDecay, "must be >= 0");
        check(p.WarmupSteps >= 0, "pretrain.warmup_steps", p.WarmupSteps, "must be >= 0");
        check(p.GradClip >= 0, "pretrain.grad_clip", p.GradClip, "must be >= 0 (0 disables clipping)");
        check(p.LogEvery >= 1, "pretrain.log_every", p.LogEvery, "must be >= 1");
        check(p.CheckpointEvery >= 0, "pretrain.checkpoint_every", p.CheckpointEvery, "must be >= 0 (0: only at the end)");
        check(p.KeepCheckpoints >= 1, "pretrain.keep_checkpoints", p.KeepCheckpoints, "must be >= 1");
        check(train.Precision == Precision.Auto || p.Precision == Precision.Auto || train.Precision == p.Precision, "pretrain.precision",
              TrainConfig.Name(p.Precision), $"(deprecated) disagrees with train.precision ({TrainConfig.Name(train.Precision)}): remove pretrain.precision");
    }
}

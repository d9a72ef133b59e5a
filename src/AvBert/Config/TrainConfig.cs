namespace AvBert.Config;

/// <summary>
/// Settings every training command shares (pretrain, finetune) and that the evaluation passes of a trained model
/// (finetune's test, eval, predict) follow: the step's arithmetic.
/// </summary>
public sealed record TrainConfig
{
    /// <summary>
    /// Arithmetic of the training step and of evaluation: auto (bf16 on GPUs that have it, fp16 on older GPUs, fp32 on
    /// the CPU), fp32 (strict), tf32 (fp32 with TF32 matmuls/convolutions on CUDA), bf16 (autocast to bfloat16;
    /// orthogonal maps and losses stay fp32), fp16 (autocast to float16 with dynamic loss scaling, for GPUs without bf16).
    /// </summary>
    public Precision Precision { get; init; } = Precision.Auto;

    /// <summary>
    /// Activation checkpointing: none, cnn (each CNN stage, stems included, keeps only its input and recomputes its
    /// activations in backward), cnn_blocks (each residual block instead of each stage: less memory, the same
    /// recomputation), transformer (each Transformer layer application likewise), all (cnn and transformer). Same loss and
    /// gradients.
    /// </summary>
    public CheckpointActivations CheckpointActivations { get; init; } = CheckpointActivations.None;

    /// <summary>
    /// In a data-parallel job (mpirun), every CNN BatchNorm in train mode normalises with the statistics of the global
    /// batch (each rank's sums all-reduced, forward and backward) instead of its rank's slice, as PySlowFast's
    /// sync_batchnorm; the running statistics then follow the global batch too. One all-reduce of 2C+1 values per
    /// BatchNorm layer in forward and one in backward. No effect in a single process (it has the whole batch).
    /// </summary>
    public bool SyncBatchnorm { get; init; }

    /// <summary>fp16 loss scaling: the first scale (PyTorch's GradScaler: 2^16).</summary>
    public double LossScaleInit { get; init; } = 65536.0;

    /// <summary>fp16 loss scaling: the scale doubles after this many steps in a row without an overflow (GradScaler: 2000).</summary>
    public int LossScaleGrowthInterval { get; init; } = 2000;

    /// <summary>
    /// The precision a run uses: train.precision, else the deprecated pretrain.precision (its old home), else auto.
    /// The two disagreeing is a config error (<see cref="PretrainConfigChecks"/>).
    /// </summary>
    public static Precision Resolve(AvBertConfig c) => c.Train.Precision != Precision.Auto ? c.Train.Precision : c.Pretrain.Precision;

    /// <summary>The one-line note for a config that still sets pretrain.precision (null when it does not).</summary>
    public static string? DeprecationNote(AvBertConfig c) => c.Pretrain.Precision == Precision.Auto ? null :
        $"note: pretrain.precision is deprecated (it now applies to every training command): use train.precision={Name(c.Pretrain.Precision)}.";

    internal static string Name(Precision p) => p.ToString().ToLowerInvariant();
}

/// <summary>Checks of the train section, run by <see cref="ConfigValidator"/>.</summary>
static class TrainConfigChecks
{
    internal static void Check(TrainConfig t, ConfigValidator.Checker check)
    {
        check(t.LossScaleInit is > 0 and < float.MaxValue, "train.loss_scale_init", t.LossScaleInit, "must be > 0 and a finite float32 (e.g. 65536)");
        check(t.LossScaleGrowthInterval >= 1, "train.loss_scale_growth_interval", t.LossScaleGrowthInterval, "must be >= 1");
    }
}

/// <summary>Which parts of the model recompute their activations in backward (<see cref="TrainConfig.CheckpointActivations"/>).
/// In YAML: none, cnn, cnn_blocks, transformer, all.</summary>
public enum CheckpointActivations { None, Cnn, Transformer, All, CnnBlocks }

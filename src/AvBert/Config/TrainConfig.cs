namespace AvBert.Config;

/// <summary>
/// Settings every training command shares (pretrain, finetune) and that the evaluation passes of a trained model
/// (finetune's test, eval, predict) follow: the step's arithmetic.
/// </summary>
public sealed record TrainConfig
{
    /// <summary>
    /// Arithmetic of the training step and of evaluation: auto (bf16 on CUDA, fp32 on the CPU), fp32 (strict), tf32
    /// (fp32 with TF32 matmuls/convolutions on CUDA), bf16 (autocast to bfloat16; orthogonal maps and losses stay fp32).
    /// </summary>
    public Precision Precision { get; init; } = Precision.Auto;

    /// <summary>
    /// The precision a run uses: train.precision, else the deprecated pretrain.precision (its old home), else auto.
    /// The two disagreeing is a config error (<see cref="Check"/>).
    /// </summary>
    public static Precision Resolve(AvBertConfig c) => c.Train.Precision != Precision.Auto ? c.Train.Precision : c.Pretrain.Precision;

    /// <summary>The one-line note for a config that still sets pretrain.precision (null when it does not).</summary>
    public static string? DeprecationNote(AvBertConfig c) => c.Pretrain.Precision == Precision.Auto ? null :
        $"note: pretrain.precision is deprecated (it now applies to every training command): use train.precision={Name(c.Pretrain.Precision)}.";

    internal static void Check(AvBertConfig c, ConfigValidator.Checker check)
    {
        var (train, pretrain) = (c.Train.Precision, c.Pretrain.Precision);
        check(train == Precision.Auto || pretrain == Precision.Auto || train == pretrain, "pretrain.precision", Name(pretrain),
              $"(deprecated) disagrees with train.precision ({Name(train)}): remove pretrain.precision");
    }

    static string Name(Precision p) => p.ToString().ToLowerInvariant();
}

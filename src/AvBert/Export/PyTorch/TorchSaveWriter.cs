using System.IO.Compression;
using System.Text;
using AvBert.Storage;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Export.PyTorch;

/// <summary>
/// Writes what <c>torch.save({"state_dict": {...}, "epoch": N}, f)</c> writes (docs/export.md): a zip archive whose
/// entries are stored, not compressed (torch's ZIP_STORED), all under one folder: <c>data.pkl</c> (the object, pickle
/// protocol 2, each tensor a <c>torch._utils._rebuild_tensor_v2</c> call on a persistent id
/// <c>("storage", torch.FloatStorage, "N", "cpu", numel)</c>), <c>data/N</c> (each storage's raw little-endian bytes),
/// <c>byteorder</c> and <c>version</c>. Only what that needs: dicts, strings, small ints, tuples, False. Tensors given as
/// the same object share one storage (the authors' checkpoints store a shared Transformer once under every name).
/// </summary>
public static class TorchSaveWriter
{
    /// <summary>Writes <c>{"state_dict": {key: tensor, ...}, "epoch": epoch}</c> to <paramref name="path"/>, atomically.</summary>
    public static void WriteCheckpoint(string path, IReadOnlyList<KeyValuePair<string, Tensor>> stateDict, int epoch = 0)
    {
        var archive = Path.GetFileNameWithoutExtension(path);
        if (archive.Length == 0 || archive.Any(c => c is '/' or '\\' or ' ' || c > 127)) archive = "archive";
        var storages = new List<Tensor>();
        var storageOf = new Dictionary<Tensor, int>(ReferenceEqualityComparer.Instance);
        var pickle = new Pickle();
        pickle.Proto();
        pickle.EmptyDict();
        pickle.Mark();
        pickle.String("state_dict");
        pickle.EmptyDict();
        pickle.Mark();
        foreach (var (key, tensor) in stateDict)
        {
            if (!storageOf.TryGetValue(tensor, out int id))
            {
                id = storages.Count;
                storageOf[tensor] = id;
                storages.Add(tensor);
            }
            pickle.String(key);
            pickle.Tensor(tensor, id);
        }
        pickle.SetItems();
        pickle.String("epoch");
        pickle.Int(epoch);
        pickle.SetItems();
        pickle.Stop();

        AtomicFile.Write(path, stream =>
        {
            using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
            void Entry(string name, ReadOnlySpan<byte> bytes)
            {
                var e = zip.CreateEntry($"{archive}/{name}", CompressionLevel.NoCompression);
                e.LastWriteTime = new DateTimeOffset(1980, 1, 1, 0, 0, 0, TimeSpan.Zero);
                using var s = e.Open();
                s.Write(bytes);
            }
            Entry("data.pkl", pickle.ToArray());
            Entry("byteorder", "little"u8);
            using var scope = NewDisposeScope();
            for (int i = 0; i < storages.Count; i++)
                Entry($"data/{i}", storages[i].detach().cpu().contiguous().bytes);
            Entry("version", "3\n"u8);
        });
    }

    /// <summary>The storage class torch pickles for a dtype (its legacy typed-storage name).</summary>
    public static string StorageName(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "FloatStorage",
        ScalarType.Float64 => "DoubleStorage",
        ScalarType.Float16 => "HalfStorage",
        ScalarType.BFloat16 => "BFloat16Storage",
        ScalarType.Int64 => "LongStorage",
        ScalarType.Int32 => "IntStorage",
        ScalarType.Int16 => "ShortStorage",
        ScalarType.Int8 => "CharStorage",
        ScalarType.Byte => "ByteStorage",
        ScalarType.Bool => "BoolStorage",
        _ => throw new NotSupportedException($"torch.save has no storage class for dtype {dtype}"),
    };

    /// <summary>The few pickle protocol 2 opcodes a state dict needs (Python's Lib/pickle.py names them).</summary>
    sealed class Pickle
    {
        readonly MemoryStream buffer = new();

        public byte[] ToArray() => buffer.ToArray();
        void Op(byte op) => buffer.WriteByte(op);

        public void Proto() { Op(0x80); Op(2); }
        public void EmptyDict() => Op((byte)'}');
        public void EmptyTuple() => Op((byte)')');
        public void Mark() => Op((byte)'(');
        public void Tuple() => Op((byte)'t');
        public void SetItems() => Op((byte)'u');
        public void Reduce() => Op((byte)'R');
        public void BinPersId() => Op((byte)'Q');
        public void False() => Op(0x89);
        public void Stop() => Op((byte)'.');

        public void Global(string module, string name)
        {
            Op((byte)'c');
            buffer.Write(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));
        }

        public void String(string s)
        {
            var bytes = Encoding.UTF8.GetBytes(s);
            Op((byte)'X');                                                   // BINUNICODE: 4-byte little-endian length
            buffer.Write(BitConverter.GetBytes((uint)bytes.Length));
            buffer.Write(bytes);
        }

        public void Int(long v)
        {
            if (v is >= 0 and < 256) { Op((byte)'K'); Op((byte)v); }                                            // BININT1
            else if (v is >= 0 and < 65536) { Op((byte)'M'); buffer.Write(BitConverter.GetBytes((ushort)v)); }   // BININT2
            else if (v is >= int.MinValue and <= int.MaxValue) { Op((byte)'J'); buffer.Write(BitConverter.GetBytes((int)v)); }
            else { Op(0x8a); Op(8); buffer.Write(BitConverter.GetBytes(v)); }                                    // LONG1, 8 bytes
        }

        void Ints(IEnumerable<long> values)
        {
            Mark();
            foreach (var v in values) Int(v);
            Tuple();
        }

        /// <summary>_rebuild_tensor_v2(storage, offset 0, shape, contiguous stride, requires_grad False, OrderedDict()).</summary>
        public void Tensor(Tensor t, int storage)
        {
            Global("torch._utils", "_rebuild_tensor_v2");
            Mark();
            Mark();
            String("storage");
            Global("torch", StorageName(t.dtype));
            String(storage.ToString(System.Globalization.CultureInfo.InvariantCulture));
            String("cpu");
            Int(t.NumberOfElements);
            Tuple();
            BinPersId();
            Int(0);
            Ints(t.shape);
            var stride = new long[t.shape.Length];
            long step = 1;
            for (int i = stride.Length - 1; i >= 0; i--) { stride[i] = step; step *= t.shape[i]; }
            Ints(stride);
            False();
            Global("collections", "OrderedDict");
            EmptyTuple();
            Reduce();
            Tuple();
            Reduce();
        }
    }
}

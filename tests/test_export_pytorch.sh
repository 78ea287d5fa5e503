#!/usr/bin/env bash
# char_lm -> PyTorch: scripts/export_pytorch.py rebuilds trained checkpoints (lstm, gru, rnn;
# 2 layers) as PyTorch modules, and their loss on the validation split and on a whole file
# equals `char_lm eval`'s to 1e-5 relative. Skips (exit 77) without Debian's python3-torch.
#   test_export_pytorch.sh CHAR_LM SOURCE_DIR
set -euo pipefail
char_lm=$1
src=$2
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "python3-torch is missing: skipped"
  exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
head -c 40000 "$src/examples/char_lm/builtin_corpus.txt" > "$dir/corpus.txt"
head -c 9000 "$src/examples/char_lm/builtin_corpus.txt" | tail -c 3000 > "$dir/other.txt"
for cell in lstm gru rnn; do
  "$char_lm" train --data "$dir/corpus.txt" --cell "$cell" --layers 2 --hidden 32 --embed 8 --batch 4 --block 16 \
    --steps 30 --val-every 1000 --print-every 1000 --checkpoint "$dir/$cell.st" > /dev/null
  /usr/bin/python3 "$src/scripts/export_pytorch.py" --checkpoint "$dir/$cell.st" --char-lm "$char_lm" --save "$dir/$cell.pt"
  /usr/bin/python3 "$src/scripts/export_pytorch.py" --checkpoint "$dir/$cell.st" --char-lm "$char_lm" --data "$dir/other.txt"
  test -s "$dir/$cell.pt"
done
echo "3 cells: PyTorch's loss equals char_lm eval's"

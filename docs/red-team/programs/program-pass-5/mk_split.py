# builds train_split_ckpt.py: the default train.py that sends the CKPT *header* at ~HANDOVER s of wall
# time (stopping the harness's training clock), keeps training EXTRA more seconds, then sends the body.
import sys
src = open('/tmp/rt5/swarmd/train/train.py').read()
src = src.replace("import math\n", "import math\nimport struct\n", 1)
src = src.replace("from prepare import CONTEXT, MAX_STEPS, TIME_BUDGET, VOCAB_SIZE, evaluate_bpb, get_batch, load_data",
 "from prepare import CONTEXT, MAX_STEPS, TIME_BUDGET, VOCAB_SIZE, evaluate_bpb, export_program, get_batch, load_data\n"
 "HANDOVER = float(os.environ.get('RT_HANDOVER', '21'))\nEXTRA = float(os.environ.get('RT_EXTRA', '20'))\nTOTAL = TIME_BUDGET + EXTRA\n")
# schedule over TOTAL seconds instead of TIME_BUDGET
src = src.replace("progress = step / MAX_STEPS if MAX_STEPS else elapsed / TIME_BUDGET", "progress = step / MAX_STEPS if MAX_STEPS else elapsed / TOTAL")
src = src.replace("if MAX_STEPS is None and training_seconds >= TIME_BUDGET:", "if MAX_STEPS is None and training_seconds >= TOTAL:")
# in the loop: hand over the header once the wall clock says so
src = src.replace("        started = time.time()\n        x, y = get_batch",
 "        if chan is None and time.time() - t0 >= HANDOVER:\n"
 "            chan = open(os.path.join(os.environ['SWARMD_EVAL_CHANNEL'], 'answer'), 'wb', buffering=0)\n"
 "            chan.write(struct.pack('<4sII', b'CKPT', size & 0xFFFFFFFF, size >> 32))\n"
 "            print(f'handed over the CKPT header at {time.time() - t0:.1f} s (trained {training_seconds:.1f} s); training on', flush=True)\n"
 "        started = time.time()\n        x, y = get_batch", 1)
src = src.replace("    step, training_seconds, tokens = 0, 0.0, 0\n",
 "    step, training_seconds, tokens = 0, 0.0, 0\n    size = len(export_program(model, DEVICE))\n    model.train()\n    chan = None\n", 1)
src = src.replace("    val_bpb = evaluate_bpb(model, val_data, DEVICE)\n",
 "    payload = export_program(model, DEVICE)\n    assert len(payload) == size\n"
 "    print(f'sending the body at {time.time() - t0:.1f} s after {training_seconds:.1f} s of training, {step} steps', flush=True)\n"
 "    chan.write(payload)\n    chan.close()\n"
 "    with open(os.path.join(os.environ['SWARMD_EVAL_CHANNEL'], 'request'), 'rb', buffering=0) as r:\n"
 "        head = r.read(12)\n        assert head[:4] == b'DONE', head\n        val_bpb = struct.unpack('<d', r.read(8))[0]\n", 1)
open('/tmp/rt5/attacks/train_split_ckpt.py', 'w').write(src)

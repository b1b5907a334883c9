import { runCli } from '../cli.ts';

// The single executable's entry (client/package/sea.ts): Node 22 is inside it.
void runCli();

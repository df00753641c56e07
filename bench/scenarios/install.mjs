// The packaged brake as a user gets it: `npm pack`, `npm install` of the
// tarball into an empty project (the addon and libbrake.so compiled from
// source there), and the first call's result (test/package/tarball.mjs,
// which also checks CommonJS, ESM and the brake command). One sample per
// run; quick mode runs it once.
export default {
  name: 'install',
  title: 'Install: npm install of the packed tarball to a first call',
  async run(ctx) {
    const n = ctx.quick ? 1 : ctx.runs;
    const samples = [];
    for (let r = 0; r < n; r++) {
      const x = await ctx.runJson(process.execPath, [`${ctx.root}/test/package/tarball.mjs`], { cwd: ctx.root, timeoutMs: 20 * 60_000 });
      console.log(`[install] run ${r + 1}/${n}: npm install ${(x.npmInstallMs / 1000).toFixed(1)} s, first call after ${(x.installToFirstCallMs / 1000).toFixed(1)} s`);
      samples.push(x);
    }
    const label = 'brake (packed tarball, empty project)';
    const figures = [
      ctx.figure({ metric: 'npm install → first call result', variant: label, unit: 's', better: 'lower', values: samples.map((x) => x.installToFirstCallMs / 1000) }),
      ctx.figure({ metric: 'npm install', variant: label, unit: 's', better: 'lower', values: samples.map((x) => x.npmInstallMs / 1000) }),
    ];
    return {
      figures,
      headline: (h) => h.row('npm install of the packed tarball → first call: s', [['npm install → first call result', label]], [], 'a build from source; no peer builds one'),
      notes: [
        'test/package/tarball.mjs: npm pack, then npm install of the tarball into an empty project with npm\'s cache warm (--prefer-offline; its three dependencies come from the cache), which checks the toolchain and compiles the addon and libbrake.so with cmake-js on every core; then a call from CommonJS (the time stops at its result), a call and a cancel from ESM, the brake command and require(\'brake/native\'). No peer: BAML ships prebuilt binaries, so the comparison would measure a download, not a build.',
      ],
    };
  },
};

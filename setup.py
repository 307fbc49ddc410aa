from packaging.version import parse as parse_version
from configparser import ConfigParser
import setuptools, shlex, json, shutil
from pathlib import Path
from setuptools.command.build_py import build_py
assert parse_version(setuptools.__version__)>=parse_version('36.2')

# note: all settings are in settings.ini; edit there, not here
config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

cfg_keys = 'version description keywords author author_email'.split()
expected = cfg_keys + "lib_name user branch license status min_python audience language".split()
for o in expected: assert o in cfg, "missing expected setting: {}".format(o)
setup_cfg = {o:cfg[o] for o in cfg_keys}

licenses = {
    'apache2': ('Apache Software License 2.0','OSI Approved :: Apache Software License'),
    'mit': ('MIT License', 'OSI Approved :: MIT License'),
    'gpl2': ('GNU General Public License v2', 'OSI Approved :: GNU General Public License v2 (GPLv2)'),
    'gpl3': ('GNU General Public License v3', 'OSI Approved :: GNU General Public License v3 (GPLv3)'),
    'bsd3': ('BSD License', 'OSI Approved :: BSD License'),
}
statuses = [ '1 - Planning', '2 - Pre-Alpha', '3 - Alpha',
    '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive' ]
py_versions = '3.6 3.7 3.8 3.9 3.10 3.11 3.12'.split()

requirements = shlex.split(cfg.get('requirements', ''))
if cfg.get('pip_requirements'): requirements += shlex.split(cfg.get('pip_requirements', ''))
min_python = cfg['min_python']
lic = licenses.get(cfg['license'].lower(), (cfg['license'], None))
notebooks_requirements = (cfg.get('notebooks_requirements') or '').split()
cluster_requirements = (cfg.get('cluster_requirements') or '').split()
art_requirements = (cfg.get('art_requirements') or '').split()
faces_requirements = (cfg.get('faces_requirements') or '').split()  # dlib's pretrained face recognizer (models.FaceDescriptor)
dev_requirements = (cfg.get('dev_requirements') or '').split() + notebooks_requirements + cluster_requirements + art_requirements + faces_requirements

package_data = dict()
pkg_data = cfg.get('package_data', None)
if pkg_data:
    package_data[cfg['lib_name']] =  pkg_data.split() # split as multiple files might be listed
# Add package data to setup_cfg for setuptools.setup(..., **setup_cfg)
setup_cfg['package_data'] = package_data

class build_py_with_notebooks(build_py):
    "Also ship the experiment notebooks and the recorded runs, so `privbook run NAME` works from any folder."
    def run(self):
        super().run()
        pkg = Path(self.build_lib)/cfg['lib_name']
        for p in sorted(Path(cfg.get('nbs_path', 'nbs')).glob('*.ipynb')):
            cells = json.loads(p.read_text(encoding='utf-8'))['cells']
            if any('parameters' in c.get('metadata', {}).get('tags', []) for c in cells):
                (pkg/'notebooks').mkdir(parents=True, exist_ok=True)
                shutil.copyfile(p, pkg/'notebooks'/p.name)
        recorded = [*Path('data/results').glob('*/*.jsonl'), *Path('data/results').glob('*/notebooks/*.ipynb'), *Path('data/results').glob('*/notebooks/PENDING.txt')]
        for f in sorted(recorded):  # results, and the executed notebook of each recorded run (what makes them results)
            dest = pkg/'results'/f.relative_to('data/results')
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dest)

setuptools.setup(
    name = cfg['lib_name'],
    license = lic[0],
    classifiers = [
        'Development Status :: ' + statuses[int(cfg['status'])],
        'Intended Audience :: ' + cfg['audience'].title(),
        'Natural Language :: ' + cfg['language'].title(),
    ] + ['Programming Language :: Python :: '+o for o in py_versions[py_versions.index(min_python):]] + (['License :: ' + lic[1] ] if lic[1] else []),
    url = cfg['git_url'],
    packages = setuptools.find_packages(),
    include_package_data = True,
    install_requires = requirements,
    extras_require={ 'dev': dev_requirements, 'notebooks': notebooks_requirements, 'cluster': notebooks_requirements + cluster_requirements, 'art': art_requirements, 'faces': faces_requirements },
    dependency_links = cfg.get('dep_links','').split(),
    python_requires  = '>=' + cfg['min_python'],
    long_description = open('README.md', encoding='utf-8').read(),
    long_description_content_type = 'text/markdown',
    zip_safe = False,
    cmdclass = {'build_py': build_py_with_notebooks},
    entry_points = {
        'console_scripts': cfg.get('console_scripts','').split(),
        'nbdev': [f'{cfg.get("lib_path")}={cfg.get("lib_path")}._modidx:d']
    },
    **setup_cfg)
